// CPU time by process group, read from /proc: where a workload's cycles go when the bench
// process, RabbitMQ and PostgreSQL share the machine's cores. Linux only; elsewhere every
// reading is zero and callers print nothing.
import { readdirSync, readFileSync } from 'node:fs';

export type CpuGroup = 'this process' | 'RabbitMQ' | 'PostgreSQL';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

function groupOf(pid: string, command: string): CpuGroup | null {
  if (pid === String(process.pid)) return 'this process';
  if (command.startsWith('beam')) return 'RabbitMQ';
  if (command.startsWith('postgres')) return 'PostgreSQL';
  return null;
}

/** CPU seconds used so far by each group (processes alive now). */
export function cpuSeconds(): Record<CpuGroup, number> {
  const out: Record<CpuGroup, number> = { 'this process': 0, RabbitMQ: 0, PostgreSQL: 0 };
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone in between
    }
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    const group = groupOf(pid, stat.slice(open + 1, close));
    if (!group) continue;
    // fields after the command: state is field 3, utime 14 and stime 15 (1-based)
    const fields = stat.slice(close + 2).split(' ');
    out[group] += (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  }
  return out;
}

/** CPU seconds used so far by one process (0 when it is gone or /proc is not there). */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** CPU microseconds per unit of work by group, between two readings. */
export function cpuPerUnit(
  before: Record<CpuGroup, number>,
  after: Record<CpuGroup, number>,
  units: number,
): Record<CpuGroup, number> {
  const per = (g: CpuGroup) => (units > 0 ? ((after[g] - before[g]) * 1e6) / units : 0);
  return { 'this process': per('this process'), RabbitMQ: per('RabbitMQ'), PostgreSQL: per('PostgreSQL') };
}

export function cpuTotal(c: Record<CpuGroup, number>): number {
  return c['this process'] + c.RabbitMQ + c.PostgreSQL;
}

export function formatCpu(c: Record<CpuGroup, number>): string {
  return `${cpuTotal(c).toFixed(1)} µs CPU/event (this process ${c['this process'].toFixed(1)}, RabbitMQ ${c.RabbitMQ.toFixed(1)}, PostgreSQL ${c.PostgreSQL.toFixed(1)})`;
}
