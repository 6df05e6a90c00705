/**
 * A worker thread of WorkerPoolRuntime: holds onnxruntime sessions and runs them here, so that
 * onnxruntime-node's synchronous session.run never blocks the server's event loop.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { InferenceSession as OrtInferenceSession, type Tensor as OrtTensor } from 'onnxruntime-node';
import type { Tensor } from '../tensor.js';
import { toOrtSessionOptions } from './ort-session-options.js';
import { fromOrtResults, signatureOf, toOrtFeeds } from './ort-tensors.js';
import { ownedTensor, transferablesOf, type WorkerReply, type WorkerRequest } from './session-worker-protocol.js';

interface HeldSession {
  readonly ort: OrtInferenceSession;
  inFlight: number;
  /** Set while release() waits for in-flight runs to finish. */
  idle: (() => void) | undefined;
}

if (!parentPort) throw new Error('session-worker.ts must run as a worker thread (WorkerPoolRuntime starts it)');
const port = parentPort;

/**
 * Lowers this thread's priority (Linux lets setpriority target one thread by its id), so the
 * HTTP thread wins the CPU when inference saturates every core. Best effort: elsewhere it stays.
 */
function lowerThreadPriority(nice: number): void {
  if (nice <= 0 || process.platform !== 'linux') return;
  try {
    const threadId = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(threadId)) setPriority(threadId, nice);
  } catch {
    // No /proc or no permission: run at the process's priority.
  }
}
lowerThreadPriority(Number((workerData as { threadNice?: number } | undefined)?.threadNice ?? 0));
const sessions = new Map<number, HeldSession>();

function reply(message: WorkerReply, transfer: ArrayBuffer[] = []): void {
  try {
    port.postMessage(message, transfer);
  } catch {
    // A buffer that cannot be transferred (marked untransferable) is cloned instead: slower, still correct.
    port.postMessage(message);
  }
}

function fail(id: number, error: unknown): void {
  reply({ kind: 'failed', id, message: error instanceof Error ? error.message : String(error) });
}

async function load(id: number, sessionId: number, modelPath: string, options: Parameters<typeof toOrtSessionOptions>[0]): Promise<void> {
  let ort: OrtInferenceSession;
  try {
    ort = await OrtInferenceSession.create(modelPath, toOrtSessionOptions(options));
  } catch (error) {
    fail(id, error);
    return;
  }
  try {
    const signature = signatureOf(ort);
    sessions.set(sessionId, { ort, inFlight: 0, idle: undefined });
    reply({ kind: 'loaded', id, signature });
  } catch (error) {
    await ort.release();
    fail(id, error);
  }
}

async function run(
  id: number,
  sessionId: number,
  inputs: Readonly<Record<string, Tensor>>,
  outputNames: readonly string[] | undefined,
  returnInputs: boolean,
): Promise<void> {
  const held = sessions.get(sessionId);
  if (!held) {
    fail(id, new Error(`no session ${sessionId} in this worker`));
    return;
  }
  held.inFlight++;
  try {
    const feeds = toOrtFeeds(inputs);
    const results = outputNames ? await held.ort.run(feeds, outputNames) : await held.ort.run(feeds);
    const outputs = fromOrtResults(results as Record<string, OrtTensor>);
    for (const name of Object.keys(outputs)) outputs[name] = ownedTensor(outputs[name]!);
    if (returnInputs) {
      reply({ kind: 'ran', id, outputs, inputs }, [...transferablesOf(Object.values(outputs)), ...transferablesOf(Object.values(inputs))]);
    } else {
      reply({ kind: 'ran', id, outputs }, transferablesOf(Object.values(outputs)));
    }
  } catch (error) {
    fail(id, error);
  } finally {
    if (--held.inFlight === 0) held.idle?.();
  }
}

async function release(id: number, sessionId: number): Promise<void> {
  const held = sessions.get(sessionId);
  if (held) {
    sessions.delete(sessionId);
    if (held.inFlight > 0) await new Promise<void>((resolve) => (held.idle = resolve));
    try {
      await held.ort.release();
    } catch (error) {
      fail(id, error);
      return;
    }
  }
  reply({ kind: 'released', id });
}

/** Set by the test hook `crash` with onNextRun: the next run message kills the thread. */
let crashOnRun: string | undefined;

port.on('message', (request: WorkerRequest) => {
  switch (request.kind) {
    case 'load':
      void load(request.id, request.sessionId, request.modelPath, request.options);
      break;
    case 'run':
      if (crashOnRun !== undefined) throw new Error(crashOnRun);
      void run(request.id, request.sessionId, request.inputs, request.outputNames, request.returnInputs === true);
      break;
    case 'release':
      void release(request.id, request.sessionId);
      break;
    case 'crash':
      if (request.onNextRun) crashOnRun = request.message;
      else throw new Error(request.message);
      break;
  }
});
