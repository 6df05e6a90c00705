/**
 * A hung model load cannot hold shutdown (issue 12 item 2). The load is stuck for real, in open(2)
 * on a named pipe (test/support/stuck-file.ts: a model file on a hung mount). shutdown() still
 * finishes within DRAIN_TIMEOUT_MS plus the thread-stop grace and says the inference thread could
 * not be stopped, and the process ends the way src/main.ts ends it (exitAfterShutdown: SIGKILL,
 * since Node's own exit would wait for that thread forever).
 *
 * In a child process: a terminated worker whose load later returns from onnxruntime aborts its
 * whole process (onnxruntime-node 1.30), so the stuck thread must never live in the test runner.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { LINEAR_INPUT, startTestGateway } from '../support/gateway.js';
import { linearModel } from '../support/models.js';
import { stuckFile } from '../support/stuck-file.js';
import { tempDir, writeRepository } from '../support/temp-dir.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const source = (file: string) => JSON.stringify(new URL(`../../src/${file}`, import.meta.url).href);

interface ChildEnd {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
}

function run(script: string): Promise<ChildEnd> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', script], { cwd: root, timeout: 45_000 }, (error, stdout) => {
      const failure = error as (Error & { code?: number | string; signal?: NodeJS.Signals }) | null;
      resolve({ code: typeof failure?.code === 'number' ? failure.code : failure ? null : 0, signal: failure?.signal ?? null, stdout });
    });
  });
}

it('finishes while a load is stuck in a system call, reports the thread it could not stop, and the process still ends', async () => {
  const dir = await tempDir('hung-load');
  await writeRepository(dir.join('repo'), { linear: { 1: linearModel(1) } });
  const stuck = await stuckFile();
  const script = dir.join('hung-load.mts');
  await writeFile(
    script,
    [
      `import { Switchyard } from ${source('app.ts')};`,
      `import { loadConfig } from ${source('config.ts')};`,
      `import { exitAfterShutdown } from ${source('process-exit.ts')};`,
      `const config = loadConfig({ MODEL_REPO: ${JSON.stringify(dir.join('repo'))}, ROUTES_FILE: ${JSON.stringify(dir.join('routes.json'))},`,
      `  PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', RUNTIME_WORKERS: '2', DRAIN_TIMEOUT_MS: '500' });`,
      `const gateway = await Switchyard.start(config);`,
      `import { readdir, readFile } from 'node:fs/promises';`,
      // The thread sits in open(2) on the pipe: the kernel says so (wait_for_partner).
      `const threadBlocked = async () => { for (const tid of await readdir('/proc/self/task')) if ((await readFile('/proc/self/task/' + tid + '/wchan', 'utf8').catch(() => '')).trim() === 'wait_for_partner') return true; return false; };`,
      `void gateway.registry.load('stuck', 1, ${JSON.stringify(stuck.path)}).catch(() => undefined);`,
      `while (!(await threadBlocked())) await new Promise((resolve) => setTimeout(resolve, 20));`,
      `const served = await fetch(gateway.url + '/models/linear/1/predict', { method: 'POST', headers: { 'content-type': 'application/json' }, body: ${JSON.stringify(JSON.stringify(LINEAR_INPUT))} });`,
      `const report = await gateway.shutdown();`,
      `console.log(JSON.stringify({ served: served.status, report, runtimeStopped: gateway.runtimeStopped, threadBlocked: await threadBlocked(), models: gateway.registry.models() }));`,
      `exitAfterShutdown(gateway, 0);`,
    ].join('\n'),
  );

  const end = await run(script);
  expect(JSON.parse(end.stdout.trim().split('\n').at(-1) ?? 'null')).toEqual({
    served: 200,
    report: { drained: true, abandoned: 0 },
    runtimeStopped: false,
    // Shutdown did not wait for the load: its thread was still blocked on the pipe.
    threadBlocked: true,
    models: [],
  });
  expect(end).toMatchObject({ signal: 'SIGKILL' });
});

it('reports every inference thread stopped when nothing is stuck', async () => {
  const t = await startTestGateway();
  expect((await t.post('/models/linear/1/predict', LINEAR_INPUT)).status).toBe(200);
  await t.gateway.shutdown();
  expect(t.gateway.runtimeStopped).toBe(true);
});
