/**
 * The scaling benchmark's memory figures: a process tree's RSS and CPU read from /proc (the
 * gateway with several loops is a tree of processes), and the per-version arithmetic.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryPerVersionMiB } from '../../bench/scenarios/scaling.js';
import { processTree, processTreeCpuSeconds, processTreeRssMiB } from '../../bench/support/process-tree.js';

describe('memoryPerVersionMiB', () => {
  it('divides the growth from 1 to N versions by N - 1', () => {
    expect(memoryPerVersionMiB(400, 460, 4)).toBe(20);
    expect(memoryPerVersionMiB(400, 430, 2)).toBe(30);
    expect(memoryPerVersionMiB(400, 394, 4)).toBe(-2); // noise shows as such, not hidden
  });

  it('needs at least two versions', () => {
    expect(() => memoryPerVersionMiB(400, 400, 1)).toThrow(/at least 2 versions, got 1/);
    expect(() => memoryPerVersionMiB(400, 400, 2.5)).toThrow(RangeError);
  });
});

describe('process tree', () => {
  let child: ChildProcess;

  beforeAll(async () => {
    child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await new Promise((resolve) => child.once('spawn', resolve));
  });
  afterAll(() => {
    child.kill('SIGKILL');
  });

  it('holds the process and its descendants', () => {
    const pids = processTree(process.pid);
    expect(pids[0]).toBe(process.pid);
    expect(pids).toContain(child.pid);
    expect(processTree(child.pid!)).toEqual([child.pid]);
  });

  it("sums the descendants' resident memory and counts CPU used", () => {
    const own = processTreeRssMiB(child.pid!);
    expect(own).toBeGreaterThan(1);
    expect(processTreeRssMiB(process.pid)).toBeGreaterThan(own);
    expect(processTreeCpuSeconds([process.pid])).toBeGreaterThan(0);
  });
});
