/**
 * One Redis operation of the job API with a bound: Redis down, or slow past the timeout, becomes
 * a 503 JOBS_UNAVAILABLE (Retry-After: 1) instead of a request that hangs. The operation itself
 * is not cancelled (Redis has no way to take back a command already sent); callers that write
 * decide for themselves what a timeout means for their write.
 */
import { SwitchyardError } from '../errors.js';

export async function boundedOperation<T>(what: string, timeoutMs: number, operation: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new SwitchyardError('JOBS_UNAVAILABLE', `could not ${what}: Redis did not answer within ${timeoutMs} ms`, { retryAfterSeconds: 1 })),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([operation(), timeout]);
  } catch (error) {
    if (error instanceof SwitchyardError) throw error;
    throw new SwitchyardError('JOBS_UNAVAILABLE', `could not ${what}: ${(error as Error).message}`, { retryAfterSeconds: 1, cause: error });
  } finally {
    clearTimeout(timer);
  }
}
