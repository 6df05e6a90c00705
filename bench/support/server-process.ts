/**
 * A server under test in its own process: spawned with an environment, awaited until it answers
 * a readiness URL, stopped with SIGTERM (SIGKILL if it hangs).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ServerProcessOptions {
  /** Script to run with node (or with `command`). */
  readonly script: string;
  /** Arguments after the script; a function of the chosen port for servers that take it as one. */
  readonly args?: readonly string[] | ((port: number) => readonly string[]);
  /** Program that runs the script, e.g. a Python interpreter; default this node (with nodeArgs). */
  readonly command?: string;
  /** How long to wait for readiness. Default 60 s. */
  readonly readyTimeoutMs?: number;
  /** Append the child's stdout and stderr to this file instead of inheriting them. */
  readonly logFile?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Path polled until it answers 200. Default '/healthz'. */
  readonly readyPath?: string;
  /** Extra node flags, e.g. --cpu-prof. */
  readonly nodeArgs?: readonly string[];
}

export interface ServerProcess {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  stop(): Promise<number | null>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = typeof options.args === 'function' ? options.args(port) : (options.args ?? []);
  const [program, programArgs] = options.command === undefined
    ? [process.execPath, [...(options.nodeArgs ?? []), options.script, ...args]]
    : [options.command, [options.script, ...args]];
  const log = options.logFile === undefined ? 'inherit' : openSync(options.logFile, 'a');
  const child = spawn(program, programArgs, {
    env: { ...process.env, LOG_LEVEL: 'warn', ...options.env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', log, log],
  });
  if (typeof log === 'number') closeSync(log); // the child holds its own copy
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async (): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill('SIGTERM'); // not SIGKILL first: a Python peer must get to stop the server it started
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${options.script} exited with ${child.exitCode ?? child.signalCode} before it was ready`);
    }
    try {
      const response = await fetch(url + (options.readyPath ?? '/healthz'));
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${options.script} was not ready within ${readyTimeoutMs / 1000} s`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, port, child, stop };
}

/** The compiled gateway (dist/src/main.js) serving `repoRoot`, ready once /readyz answers 200. */
export function startGatewayProcess(
  repoRoot: string,
  env: Readonly<Record<string, string>> = {},
  options: Pick<ServerProcessOptions, 'logFile'> = {},
): Promise<ServerProcess> {
  return startServerProcess({
    script: fileURLToPath(new URL('../../src/main.js', import.meta.url)),
    env: { MODEL_REPO: repoRoot, ROUTES_FILE: join(repoRoot, 'routes.json'), MODEL_STABILITY_MS: '200', ...env },
    readyPath: '/readyz',
    ...options,
  });
}
