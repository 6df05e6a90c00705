/**
 * One place that decides when test resources go away: at the end of the test that made them, or
 * at the end of the file when they were made outside a test (beforeAll, describe bodies). Every
 * helper that starts something (a gateway, a process, a temp folder, a Redis prefix) registers
 * here, so a test that fails before its own close still leaves nothing behind.
 */
import { onTestFinished } from 'vitest';

type Cleanup = () => unknown;

const atFileEnd: Cleanup[] = [];

/**
 * Runs `cleanup` when the current test finishes (after its afterEach hooks), pass or fail; outside
 * a test, when the file finishes (test/support/setup-file.ts). Cleanups run newest first, so a
 * prefix registered before the gateway that uses it is deleted after that gateway closed.
 */
export function cleanupAfter(cleanup: Cleanup): void {
  try {
    onTestFinished(async () => {
      await cleanup();
    });
    return;
  } catch {
    // Not inside a test: vitest refuses onTestFinished there, so the file's end is the owner.
  }
  atFileEnd.push(cleanup);
}

/** Runs every file-level cleanup, newest first; all of them run even if some fail. */
export async function runFileCleanups(): Promise<void> {
  const errors: unknown[] = [];
  for (const cleanup of atFileEnd.splice(0).reverse()) {
    try {
      await cleanup();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, `${errors.length} test cleanups failed`);
}
