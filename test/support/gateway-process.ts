/**
 * A gateway in a process of its own (src/main.ts under tsx), for tests that need a real process:
 * signals, SIGKILL in the middle of work, several replicas on one Redis. It listens on port 0
 * unless given one (the port is read from its "listening" log line), gets a temp repository unless MODEL_REPO is
 * given, never inherits the runner's REDIS_URL, and is killed when the test (or file) ends; an
 * owned Redis prefix is deleted once it has exited.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanupAfter } from './cleanup.js';
import { eventually } from './eventually.js';
import { linearModel, type ModelSet } from './models.js';
import { deleteKeysUnder, redisSettings, testRedisUrl, type RedisChoice } from './redis.js';
import { tempDir, writeRepository } from './temp-dir.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface GatewayProcess {
  readonly url: string;
  readonly pid: number;
  /** The model repository it watches (a temp one unless env gave MODEL_REPO). */
  readonly repo: string;
  /** Set when it uses Redis. */
  readonly redisPrefix: string | undefined;
  /** Everything the process logged on stdout so far (JSON lines). */
  log(): string;
  /** The parsed JSON log lines so far. */
  logLines(): Array<Record<string, unknown>>;
  /** Everything it wrote on stderr so far (also passed on to the runner's stderr). */
  stderr(): string;
  kill(signal: NodeJS.Signals): void;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
}

export interface GatewayProcessOptions {
  /** What to run: the script and its arguments; default src/main.ts (e.g. ['src/cli/main.ts', 'worker']). */
  readonly entry?: readonly string[];
  /** The temp repository's models when env has no MODEL_REPO; default linear v1. */
  readonly models?: ModelSet;
  /** Redis, as for startTestGateway; default none (REDIS_URL from env, if given, must carry a test prefix). */
  readonly redis?: RedisChoice;
  /** How long to wait for /readyz; default 30 s. */
  readonly readyTimeoutMs?: number;
  /** The port to listen on (a restart at the same URL: freePort() once, then each start); default 0. */
  readonly port?: number;
}

/**
 * Starts the gateway with `env` on port 0 and waits until /readyz answers 200. The second
 * argument is the entry (as before) or the options.
 */
export async function startGatewayProcess(
  env: Record<string, string> = {},
  entryOrOptions: readonly string[] | GatewayProcessOptions = {},
): Promise<GatewayProcess> {
  const options: GatewayProcessOptions = Array.isArray(entryOrOptions) ? { entry: entryOrOptions as readonly string[] } : (entryOrOptions as GatewayProcessOptions);
  let repo = env.MODEL_REPO;
  let removeRepo: (() => Promise<void>) | undefined;
  if (repo === undefined) {
    const dir = await tempDir('process-repo');
    await writeRepository(dir.path, options.models ?? { linear: { 1: linearModel(1) } });
    repo = dir.path;
    removeRepo = dir.remove;
  }
  const redis = redisSettings(options.redis, env);
  const [script = 'src/main.ts', ...args] = options.entry ?? ['src/main.ts'];
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, script), ...args], {
    cwd: root,
    env: {
      ...process.env,
      LOG_LEVEL: 'info',
      // One loop whatever the machine (auto is half the cores); test/loops/ sets HTTP_LOOPS itself.
      HTTP_LOOPS: '1',
      ROUTES_FILE: join(repo, 'routes.json'),
      ...env,
      MODEL_REPO: repo,
      REDIS_URL: redis?.url ?? '',
      ...(redis ? { REDIS_PREFIX: redis.prefix } : {}),
      PORT: String(options.port ?? 0),
      HOST: '127.0.0.1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    process.stderr.write(chunk);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Complete lines only (the last may still be arriving); a line that is not JSON is skipped.
  const logLines = () =>
    log
      .split('\n')
      .slice(0, -1)
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
  const kill = (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  cleanupAfter(async () => {
    kill('SIGKILL');
    await exited;
    if (redis?.owned && redis.url === testRedisUrl()) await deleteKeysUnder(redis.prefix);
    await removeRepo?.();
  });

  let url: string | undefined;
  const ready = async () => {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`gateway exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${log}`);
    if (url === undefined) {
      // main.ts logs the bound port once it listens (LOG_LEVEL info or lower).
      const listening = logLines().find((line) => line.msg === 'listening' && typeof line.port === 'number');
      if (!listening) return false;
      url = `http://127.0.0.1:${listening.port as number}`;
    }
    return (await fetch(url + '/readyz').catch(() => undefined))?.status === 200;
  };
  await eventually(ready, options.readyTimeoutMs ?? 30_000, () => `gateway process ready; its log so far:\n${log.slice(-2000)}`);
  return { url: url!, pid: child.pid!, repo, redisPrefix: redis?.prefix, log: () => log, logLines, stderr: () => stderr, kill, exited };
}
