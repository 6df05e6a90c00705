/**
 * Finding or starting a real Redis for tests: REDIS_URL, else 127.0.0.1:6379, else a private
 * redis-server on a free port. Also used by tests that kill and restart their own server.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

export async function pingRedis(url: string, timeoutMs = 1000): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, connectTimeout: timeoutMs, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export function hasRedisServerBinary(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface OwnRedisServer {
  readonly url: string;
  readonly port: number;
  /** SIGKILLs the server (a crash, not a clean shutdown). */
  kill(): Promise<void>;
  /** Starts a fresh server on the same port. */
  restart(): Promise<void>;
  /** SIGSTOPs the server: connections stay open and commands hang (a hung, not a dead, Redis). */
  pause(): void;
  /** SIGCONTs a paused server; it then runs what was sent meanwhile. */
  resume(): void;
  stop(): Promise<void>;
}

/** Starts a private, non-persistent redis-server on a free (or given) port and waits for PONG. */
export async function startRedisServer(port?: number): Promise<OwnRedisServer> {
  const chosenPort = port ?? (await freePort());
  const url = `redis://127.0.0.1:${chosenPort}`;
  let child: ChildProcess | undefined;

  const start = async (): Promise<void> => {
    child = spawn('redis-server', ['--port', String(chosenPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    for (let attempt = 0; attempt < 100; attempt++) {
      if (await pingRedis(url, 200)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`redis-server on port ${chosenPort} did not answer`);
  };
  const kill = async (): Promise<void> => {
    const current = child;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      current.once('exit', () => resolve());
      current.kill('SIGKILL');
    });
  };

  const signal = (name: NodeJS.Signals): void => {
    if (!child || child.exitCode !== null || child.signalCode !== null) throw new Error(`redis-server on port ${chosenPort} is not running`);
    child.kill(name);
  };

  await start();
  return { url, port: chosenPort, kill, restart: start, stop: kill, pause: () => signal('SIGSTOP'), resume: () => signal('SIGCONT') };
}
