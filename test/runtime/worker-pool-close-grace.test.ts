/**
 * WorkerPoolRuntime.close({ runsGraceMs }): runs already inside onnxruntime finish before their
 * thread is stopped (stopping it mid-run aborts the process in onnxruntime-node 1.30), while new
 * runs are refused from the call on. Without the grace, close() stops at once (see
 * worker-pool-runtime.test.ts: runs in flight get SHUTTING_DOWN).
 */
import { expect, it } from 'vitest';
import { SwitchyardError } from '../../src/errors.js';
import { WorkerPoolRuntime } from '../../src/runtime/worker-pool-runtime.js';
import { MLP_SIZES, mlpModel } from '../support/models.js';
import { tempDir } from '../support/temp-dir.js';

it('lets a run already sent finish with its outputs, refuses new runs, then stops the threads', async () => {
  const folder = await tempDir('close-grace');
  const path = await folder.write('mlp.onnx', mlpModel(MLP_SIZES.heavy));
  const runtime = new WorkerPoolRuntime({ workers: 1 });
  try {
    const session = await runtime.load(path);
    const running = session.run({ input: { datatype: 'FP32', shape: [256, 256], data: new Float32Array(256 * 256).fill(0.5) } });
    expect(runtime.stats().inFlight).toBe(1);
    const closing = runtime.close({ runsGraceMs: 60_000 });
    const refused = await session.run({ input: { datatype: 'FP32', shape: [1, 256], data: new Float32Array(256) } }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(SwitchyardError);
    expect((refused as SwitchyardError).code).toBe('SHUTTING_DOWN');
    const outputs = await running;
    expect(outputs['output']!.shape).toEqual([256, 256]);
    await closing;
    expect(runtime.stats()).toMatchObject({ workers: 0, sessions: 0, inFlight: 0 });
  } finally {
    await runtime.close();
  }
});
