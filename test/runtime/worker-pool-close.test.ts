/**
 * WorkerPoolRuntime.close() with a model load still running. Terminating a worker thread in the
 * middle of an onnxruntime load aborts the whole process when the load returns (onnxruntime-node
 * 1.30: "terminate called after throwing an instance of 'Napi::Error'"), so close() answers the
 * load's caller at once but stops the thread only once onnxruntime is done with it, waiting at
 * most `loadWaitMs`; a load stuck longer (here, for real, in open(2) on a named pipe:
 * test/support/stuck-file.ts) leaves its thread behind and close() says so. Were a thread
 * terminated mid-load, these tests would take the test process down with it.
 */
import { expect, it } from 'vitest';
import { WorkerPoolRuntime } from '../../src/runtime/worker-pool-runtime.js';
import { buildLinearModel } from '../../tools/model-builder/index.js';
import { stuckFile } from '../support/stuck-file.js';
import { LINEAR } from '../support/models.js';
import { tempDir } from '../support/temp-dir.js';


it('answers a running load at once but stops its thread only once onnxruntime is done with it', async () => {
  const folder = await tempDir('runtime-close');
  const runtime = new WorkerPoolRuntime({ workers: 2 });
  const serving = await runtime.load(await folder.write('linear.onnx', buildLinearModel(LINEAR)));
  const stuck = await stuckFile();
  const loading = runtime.load(stuck.path).catch((error: unknown) => error);
  await stuck.readerWaiting();

  let result: boolean | undefined;
  const closing = runtime.close({ loadWaitMs: 60_000 }).then((stopped) => (result = stopped));
  await expect(serving.run({ input: { datatype: 'FP32', shape: [1, 4], data: new Float32Array(4) } })).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
  // Its caller is answered at once; the thread is not stopped until onnxruntime is done with the load.
  expect(await loading).toMatchObject({ code: 'SHUTTING_DOWN' });
  expect(result).toBeUndefined();
  expect(await stuck.release(buildLinearModel(LINEAR))).toBe(true);
  expect(await closing).toBe(true);
});

it('gives up on a load stuck past loadWaitMs and resolves false, leaving that thread to stop when the load returns', async () => {
  const runtime = new WorkerPoolRuntime({ workers: 1 });
  const stuck = await stuckFile();
  const loading = runtime.load(stuck.path).catch((error: Error) => error);
  await stuck.readerWaiting();

  expect(await runtime.close({ loadWaitMs: 200 })).toBe(false);
  expect(await runtime.close()).toBe(false); // idempotent: the first call's answer
  expect(await stuck.release()).toBe(true);
  // onnxruntime then refuses the empty file, and the thread is stopped after that, without an abort.
  expect(await loading).toMatchObject({ code: 'SHUTTING_DOWN' });
});
