/** The error a call throws or a promise rejects with, as the gateway's own SwitchyardError. */
import { SwitchyardError } from '../../src/errors.js';

/** The SwitchyardError `fn` throws; fails when it throws nothing or something else. */
export function thrownBy(fn: () => unknown): SwitchyardError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SwitchyardError) return error;
    throw error;
  }
  throw new Error('expected a SwitchyardError, nothing was thrown');
}

/** The SwitchyardError `promise` rejects with; fails when it resolves or rejects with something else. */
export async function rejectionOf(promise: Promise<unknown>): Promise<SwitchyardError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SwitchyardError) return error;
    throw error;
  }
  throw new Error('expected a rejection with a SwitchyardError, the promise resolved');
}
