/** The supported Node line is enforced: the suite runs on it, and the gateway refuses older ones. */
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MIN_NODE_MAJOR, unsupportedNodeMessage } from '../../src/node-version.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** The first `node` on PATH that is not this project's pinned one (the machine's own), if any. */
function systemNode(): { path: string; major: number } | undefined {
  const path = (process.env.PATH ?? '').split(':').filter((dir) => dir && !dir.includes('node_modules'));
  for (const dir of path) {
    const candidate = `${dir}/node`;
    try {
      const version = execFileSync(candidate, ['--version'], { encoding: 'utf8' }).trim();
      return { path: candidate, major: Number.parseInt(version.slice(1), 10) };
    } catch {
      // not here
    }
  }
  return undefined;
}

describe('supported Node versions', () => {
  it('runs the suite on the pinned Node 24 line', () => {
    expect(Number.parseInt(process.versions.node, 10)).toBeGreaterThanOrEqual(MIN_NODE_MAJOR);
    expect(unsupportedNodeMessage()).toBeUndefined();
  });

  it('names the running and the needed version for an older Node', () => {
    expect(unsupportedNodeMessage('20.19.5')).toMatch(/needs Node\.js 24 or newer; this is Node\.js 20\.19\.5/);
    expect(unsupportedNodeMessage('22.12.0')).toMatch(/this is Node\.js 22\.12\.0/);
    expect(unsupportedNodeMessage('24.0.0')).toBeUndefined();
    expect(unsupportedNodeMessage('26.1.0')).toBeUndefined();
  });

  const older = systemNode();
  it.runIf(older !== undefined && older.major < MIN_NODE_MAJOR)('the gateway refuses to start on the machine\'s older Node, exit 2', () => {
    const run = spawnSync(older!.path, ['--import', 'tsx', 'src/main.ts'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', REDIS_URL: '' },
      timeout: 30_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/Switchyard needs Node\.js 24 or newer/);
  });
});
