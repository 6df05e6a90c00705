/**
 * A gateway in a process of its own (src/main.ts under tsx), for tests that need a real process:
 * signals, SIGKILL in the middle of work, several replicas on one Redis.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from './gateway.js';
import { freePort } from './redis-server.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface GatewayProcess {
  readonly url: string;
  /** Everything the process logged on stdout so far (JSON lines). */
  log(): string;
  kill(signal: NodeJS.Signals): void;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
}

/**
 * Starts `src/main.ts` (or another entry, e.g. the CLI with `worker`) with `env` on a free port
 * and waits until /readyz answers 200.
 */
export async function startGatewayProcess(env: Record<string, string>, entry: readonly string[] = ['src/main.ts']): Promise<GatewayProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const [script = 'src/main.ts', ...args] = entry;
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, script), ...args], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'info', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let log = '';
  child.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = async () => {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode} before it was ready:\n${log}`);
    return (await fetch(url + '/readyz').catch(() => undefined))?.status === 200;
  };
  await eventually(ready, 30_000, 'gateway process ready');
  return {
    url,
    log: () => log,
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    exited,
  };
}
