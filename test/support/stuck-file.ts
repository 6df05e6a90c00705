/**
 * A model path whose load hangs for as long as the test wants, for real: a named pipe (FIFO).
 * onnxruntime opens the path and blocks in open(2) until a writer appears, exactly like a file on a
 * hung network mount, so the worker thread that loads it is stuck in a system call (no JS runs on
 * it; Worker.terminate() and process exit wait for it). The test ends the hang with release(): the
 * bytes given (a model that then loads) or none (an empty file that onnxruntime refuses).
 * The pipe is released when the test (or file) ends, so no thread outlives it.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { open, readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { cleanupAfter } from './cleanup.js';
import { eventually } from './eventually.js';
import { tempDir } from './temp-dir.js';

export interface StuckFile {
  readonly path: string;
  /**
   * Resolves once a thread of this process is blocked opening a pipe (a load is stuck on it, not
   * just about to start). Linux only: it reads /proc/self/task/<tid>/wchan (wait_for_partner).
   */
  readerWaiting(timeoutMs?: number): Promise<void>;
  /**
   * Ends the hang: opens the pipe for writing, writes `bytes` (up to the pipe's 64 KiB buffer) and
   * closes it. True when a reader was waiting (a load was stuck on it). Safe to call again.
   */
  release(bytes?: Uint8Array): Promise<boolean>;
}

export async function stuckFile(name = 'stuck.onnx'): Promise<StuckFile> {
  const dir = await tempDir('stuck');
  const path = dir.join(name);
  await promisify(execFile)('mkfifo', [path]);
  const release = async (bytes?: Uint8Array): Promise<boolean> => {
    let handle;
    try {
      // Non-blocking: with no reader this fails (ENXIO) instead of waiting for one.
      handle = await open(path, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch {
      return false;
    }
    try {
      if (bytes && bytes.length > 0) await handle.write(bytes);
    } finally {
      await handle.close();
    }
    return true;
  };
  // Registered after the temp dir, so it runs before the pipe is removed.
  cleanupAfter(async () => {
    // Every reader blocked on the pipe gets its end of file, including one whose open(2) was only
    // about to start: a few misses in a row mean nobody is left.
    for (let misses = 0; misses < 5; ) {
      misses = (await release()) ? 0 : misses + 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
  const readerWaiting = (timeoutMs = 10_000) => eventually(threadWaitsOnPipe, timeoutMs, `a thread blocked opening ${path}`);
  return { path, release, readerWaiting };
}

/** True when some thread of this process sleeps in the kernel waiting for a pipe's other end. */
async function threadWaitsOnPipe(): Promise<boolean> {
  for (const tid of await readdir('/proc/self/task')) {
    const wchan = await readFile(`/proc/self/task/${tid}/wchan`, 'utf8').catch(() => '');
    if (wchan.trim() === 'wait_for_partner') return true;
  }
  return false;
}
