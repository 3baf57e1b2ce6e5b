// The three-node RabbitMQ cluster of scripts/rabbitmq-cluster.mjs, for tests: every call runs
// the script (so the cluster is driven exactly as by hand) and reads its JSON answer.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const script = join(import.meta.dirname, '..', '..', 'scripts', 'rabbitmq-cluster.mjs');

export const NODE_NUMBERS = [1, 2, 3] as const;
export const nodeName = (n: number): string => `c${n}@localhost`;
export const amqpUrl = (n: number): string => `amqp://guest:guest@127.0.0.1:${5700 + n}`;
export const managementUrl = (n: number): string => `http://127.0.0.1:${15700 + n}`;

/** The value of AMQP_URL for the cluster: every node, comma-separated. */
export const CLUSTER_AMQP_URL = NODE_NUMBERS.map(amqpUrl).join(',');
/** AMQP_MANAGEMENT_URL for the cluster: one per node, in the same order. */
export const CLUSTER_MANAGEMENT_URL = NODE_NUMBERS.map(managementUrl).join(',');

/** The node number (1-3) of a transport's `node` (`amqp://guest@127.0.0.1:5702/`). */
export function nodeOf(display: string | undefined): number | undefined {
  const port = /:(\d+)\//.exec(display ?? '')?.[1];
  const n = Number(port) - 5700;
  return (NODE_NUMBERS as readonly number[]).includes(n) ? n : undefined;
}

async function cluster(args: string[], timeoutMs: number): Promise<string> {
  const { stdout } = await run(process.execPath, [script, ...args, '--json'], {
    timeout: timeoutMs,
    maxBuffer: 1 << 20,
  });
  return stdout.trim();
}

/** Starts the cluster, or reuses the one running; `reused` says which, `ms` how long it took. */
export async function startCluster(): Promise<{ reused: boolean; ms: number; bootMs?: number }> {
  return JSON.parse(await cluster(['start'], 300_000));
}

/**
 * Registers the suite's `before` and `after`: the cluster is started when it is not running
 * and stopped afterwards (nodes gone, data removed); one started beforehand is reused and left
 * running. `startedHere()` says which, for a suite that must then take back what it declared.
 */
export function useCluster(): { startedHere(): boolean } {
  let here = false;
  before(async () => {
    // A start that fails halfway still leaves nodes to stop: ours until the harness says it reused one.
    here = true;
    const r = await startCluster();
    here = !r.reused;
    console.log(`# cluster ${r.reused ? 'reused' : `formed in ${r.ms} ms (nodes booted in ${r.bootMs} ms)`}`);
  });
  after(async () => {
    if (here) await stopCluster();
  });
  return { startedHere: () => here };
}

/** Stops every node and removes the cluster's data directory. */
export async function stopCluster(): Promise<void> {
  await cluster(['stop'], 120_000);
}

/** SIGKILLs node n's Erlang VM; resolves with the time (Date.now()) the signal was sent. */
export async function killNode(n: number): Promise<number> {
  return (JSON.parse(await cluster(['kill', String(n)], 30_000)) as { killedAt: number }).killedAt;
}

/** Starts node n again (it rejoins the cluster from its data). */
export async function restartNode(n: number): Promise<void> {
  await cluster(['restart', String(n)], 180_000);
}

export interface ClusterStatus {
  nodes: { name: string; pid: number | null; running: boolean }[];
  cluster: { members: string[]; running: string[] } | null;
}

export async function clusterStatus(): Promise<ClusterStatus> {
  return JSON.parse(await cluster(['status'], 60_000));
}

/** The leader and members of a quorum queue (management API). */
export async function queueLeader(
  queue: string,
): Promise<{ leader: string | null; members: string[]; type: string | null }> {
  return JSON.parse(await cluster(['leader', queue], 30_000));
}

const auth = `Basic ${Buffer.from('guest:guest').toString('base64')}`;

/** GET on the management API of the first node that answers. */
export async function management<T>(path: string): Promise<T> {
  let last: unknown;
  for (const n of NODE_NUMBERS) {
    try {
      const res = await fetch(`${managementUrl(n)}${path}`, {
        headers: { authorization: auth },
        signal: AbortSignal.timeout(5_000),
      });
      if (res.ok) return (await res.json()) as T;
      last = new Error(`${path}: ${res.status}`);
    } catch (err) {
      last = err;
    }
  }
  throw last;
}
