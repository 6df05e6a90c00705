/**
 * A server's whole process tree read from /proc (Linux): with HTTP_LOOPS > 1 the gateway is a
 * primary and one process per loop, so its CPU and memory are the sums over every descendant.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** The pids of a process and every descendant. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(/PPid:\s+(\d+)/.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch { /* gone */ }
  }
  const all: number[] = [];
  const visit = (p: number) => {
    all.push(p);
    for (const c of children.get(p) ?? []) visit(c);
  };
  visit(pid);
  return all;
}

/** CPU seconds (user + system) used so far by these processes (clock ticks of 10 ms). */
export function processTreeCpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const p of pids) {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch { /* gone */ }
  }
  return ticks / 100;
}

/** Resident memory (VmRSS) in MiB of a process and every descendant; threads count once, in their process. */
export function processTreeRssMiB(pid: number): number {
  let kib = 0;
  for (const p of processTree(pid)) {
    try { kib += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0); } catch { /* gone */ }
  }
  return kib / 1024;
}
