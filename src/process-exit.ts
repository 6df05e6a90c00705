/**
 * How the process ends after a shutdown. Node's exit waits for every worker thread to stop, and an
 * inference thread stuck in a system call (opening a model file on a hung network mount) never
 * does: exiting would hang forever. Such a process kills itself instead.
 */

/** exit(code), or SIGKILL (status 137) when shutdown() could not stop an inference thread. */
export function exitAfterShutdown(gateway: { readonly runtimeStopped: boolean | undefined }, code: number): never {
  if (gateway.runtimeStopped === false) process.kill(process.pid, 'SIGKILL');
  process.exit(code);
}
