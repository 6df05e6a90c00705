/**
 * `npm start` hands SIGTERM to the gateway (README, Shutdown): npm signals the script it runs, and
 * the script is `exec node dist/src/main.js`, so the signalled process is the gateway itself rather
 * than a shell that would die and leave the gateway running on its port. Runs the real `npm start`
 * (its prestart builds dist/), finds the gateway among npm's descendants in /proc, SIGTERMs npm,
 * and checks that the gateway drained, exited and freed its port.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { cleanupAfter } from '../support/cleanup.js';
import { eventually } from '../support/eventually.js';
import { linearModel } from '../support/models.js';
import { tempDir, writeRepository } from '../support/temp-dir.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** The pids of every live process below `pid` (children, their children, ...), from /proc. */
function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // pid (comm) state ppid ...: the comm may hold spaces, so read after its closing parenthesis.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const visit = (parent: number) => {
    for (const [child, ppid] of parentOf) {
      if (ppid !== parent) continue;
      found.push(child);
      visit(child);
    }
  };
  visit(pid);
  return found;
}

function argv(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** node running the built gateway (not a shell whose command line mentions it). */
function isGateway(pid: number): boolean {
  const [program = '', script] = argv(pid);
  return /(^|\/)node$/.test(program) && script === 'dist/src/main.js';
}

/** True when something accepts connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

it('stops the gateway itself when npm gets SIGTERM: drained, exited, port closed', { timeout: 300_000 }, async () => {
  const repo = await tempDir('npm-start-repo');
  await writeRepository(repo.path, { linear: { 1: linearModel(1) } });
  const npm = spawn('npm', ['start'], {
    cwd: root,
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      MODEL_REPO: repo.path,
      ROUTES_FILE: repo.join('routes.json'),
      REDIS_URL: '',
      RUNTIME_WORKERS: '1',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const npmExited = new Promise<void>((resolve) => npm.once('exit', () => resolve()));
  let gatewayPid: number | undefined;
  // Whatever happens, nothing of this test stays running.
  cleanupAfter(async () => {
    if (npm.exitCode === null && npm.signalCode === null) npm.kill('SIGKILL');
    if (gatewayPid !== undefined && alive(gatewayPid)) process.kill(gatewayPid, 'SIGKILL');
    await npmExited;
  });

  const logLines = () =>
    output.split('\n').flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  // The build (prestart) comes first, then the gateway logs where it listens.
  let port: number | undefined;
  await eventually(
    () => {
      if (npm.exitCode !== null) throw new Error(`npm start exited (${npm.exitCode}) early:\n${output}`);
      port = logLines().find((entry) => entry.msg === 'listening')?.port as number | undefined;
      return port !== undefined;
    },
    240_000,
    () => `the gateway's "listening" line; npm start said so far:\n${output.slice(-2000)}`,
  );
  await eventually(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 30_000, 'gateway ready');
  const gateways = descendants(npm.pid!).filter(isGateway);
  expect(gateways, descendants(npm.pid!).map((pid) => `${pid}: ${argv(pid).join(' ')}`).join('\n')).toHaveLength(1);
  gatewayPid = gateways[0]!;

  npm.kill('SIGTERM');
  await npmExited;
  await eventually(() => !alive(gatewayPid!), 30_000, () => `gateway pid ${gatewayPid} gone; output:\n${output.slice(-2000)}`);
  expect(await listening(port!)).toBe(false);
  // The gateway ran its own shutdown: it got the signal, not just its shell.
  const messages = logLines().map((entry) => entry.msg);
  expect(messages).toContain('signal received');
  expect(messages).toContain('shutdown complete');
});
