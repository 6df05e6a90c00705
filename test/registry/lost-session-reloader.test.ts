/**
 * LostSessionReloader: every version serving from the file whose session was lost loads again
 * (and is logged); versions of other files are left alone. The event is the runtime's own
 * SessionLostEvent; the real crash path (a worker thread dying) is in
 * test/integration/model-files.test.ts.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import { LostSessionReloader } from '../../src/registry/lost-session-reloader.js';
import { ModelRegistry } from '../../src/registry/model-registry.js';
import { InProcessRuntime } from '../../src/runtime/in-process-runtime.js';
import { eventually } from '../support/eventually.js';
import { expectedOutput, linear, modelFiles, runOnce } from './registry-fixtures.js';

let runtime: InProcessRuntime | undefined;
let registry: ModelRegistry | undefined;

afterEach(async () => {
  await registry?.close({ timeoutMs: 1000 });
  await runtime?.close();
});

it('reloads every version serving from the lost file, logs each, and leaves other files alone', async () => {
  const lines: Array<{ event?: string; model?: string; version?: number; reason?: string }> = [];
  const logger = pino(
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString('utf8')));
        done();
      },
    }),
  );
  runtime = new InProcessRuntime();
  registry = new ModelRegistry({ runtime });
  const reloader = new LostSessionReloader({ registry, logger });
  const files = await modelFiles();
  const shared = await files.linear('shared.onnx', 2);
  const other = await files.linear('other.onnx', 3);
  await registry.load('lin', 1, shared);
  await registry.load('lin', 2, shared);
  await registry.load('solo', 1, other);
  const reloads: Array<{ name: string; version: number }> = [];
  registry.on('swapped', ({ name, version }) => reloads.push({ name, version }));

  reloader.sessionLost({ modelPath: shared, reason: 'worker exited with code 1' });

  expect(lines.filter((line) => line.event === 'session-lost')).toEqual([
    expect.objectContaining({ model: 'lin', version: 1, reason: 'worker exited with code 1' }),
    expect.objectContaining({ model: 'lin', version: 2, reason: 'worker exited with code 1' }),
  ]);
  expect(registry.status('lin', 1)!.state).toBe('RELOADING');
  await eventually(() => reloads.length >= 2, 10_000, () => `both versions reloaded (${JSON.stringify(reloads)} so far)`);
  // Two versions reload independently: either may finish first.
  expect(reloads.sort((a, b) => a.version - b.version)).toEqual([
    { name: 'lin', version: 1 },
    { name: 'lin', version: 2 },
  ]);
  expect(registry.stats()).toMatchObject({ sessionsLoaded: 5, swaps: 2, loadFailures: 0 });
  for (const [name, version, scale] of [['lin', 1, 2], ['lin', 2, 2], ['solo', 1, 3]] as const) {
    expect(registry.status(name, version)).toMatchObject({ state: 'READY', servable: true });
    const lease = registry.acquire(name, version);
    expect(await runOnce(lease.session)).toEqual(expectedOutput(linear(scale)));
    lease.release();
  }
});
