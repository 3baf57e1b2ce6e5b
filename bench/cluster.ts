/**
 * The three-node RabbitMQ cluster (issue 24), each figure beside a reference from the same run.
 * The suite starts the test cluster (scripts/rabbitmq-cluster.mjs) and stops it at the end
 * (one already running is reused and left running, its killed node started again).
 *
 * 1. A gateway and a store (each `serve` through its CLI, compiled, with the deployment's V8
 *    flags) on the cluster with quorum queues (BLOODBANK_QUEUE_TYPE=quorum, node list in
 *    AMQP_URL): `POST /events` at 64 connections, events/s answered 202, beside the same pair on
 *    the machine's single node with classic queues; interleaved rounds, best of each. After
 *    each round the store has committed every accepted event, and the CPU time of each process
 *    (gateway, store, the broker's Erlang VMs, PostgreSQL) over the round, from /proc, divided
 *    by the events gives the CPU per event of each part (docs/scaling.md's capacity model).
 * 2. Publishing through a leader kill: a paced load (200 events/s, each refused event sent
 *    again with its id) on the cluster's gateway, connected like the store to the node leading
 *    the store's queue; that node is SIGKILLed. Value: seconds from the signal to the first 202
 *    for a request sent after it; reference: the 10 s target (ratio ≤ 1 is good).
 * 3. The store's ingest pause through the same kill: the longest time after the signal with no
 *    commit (PostgreSQL's received_at of the stored events); reference: the 15 s target.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import pg from 'pg';
import {
  CLUSTER_AMQP_URL,
  killNode,
  nodeName,
  queueLeader,
  restartNode,
  startCluster,
  stopCluster,
} from '../test/cluster/harness.js';
import { ingestPause, refusalWindow, startLoad } from '../test/cluster/parts.js';
import { processCpuSeconds } from './cpu.js';
import { cleanBroker } from './e2e/broker.js';
import { adminQuery, databaseUrlFor } from './e2e/database.js';
import { EVENT_TYPE, hammer } from './e2e/load.js';
import { type Child, startPart, stopChild, waitFor, withoutRestarts } from './e2e/procs.js';
import { type BenchContext, type BenchResult, type BenchSuite, result } from './types.js';

const CLUSTER_DIR = process.env.BLOODBANK_CLUSTER_DIR ?? '/tmp/33god-cluster';
const TICKS_PER_SECOND = 100;
const KILL_LOAD_PER_SECOND = 200;

type Kind = 'quorum' | 'classic';

interface Stack {
  kind: Kind;
  amqpUrl: string;
  gateway: Child;
  store: Child;
  db: pg.Pool;
}

/** CPU seconds so far of the broker's Erlang VMs (this cluster's, or the machine's node) and of PostgreSQL. */
function serverCpu(): { cluster: number; nodes: number[]; machine: number; postgres: number } {
  const out = { cluster: 0, nodes: [0, 0, 0], machine: 0, postgres: 0 };
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const command = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const seconds = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
    if (command.startsWith('beam')) {
      // A cluster node's VM names neither its node nor its directory in its command line:
      // its environment does (scripts/rabbitmq-cluster.mjs sets both).
      let environ = '';
      try {
        environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      } catch {}
      const n = environ.includes(`RABBITMQ_CONF_ENV_FILE=${CLUSTER_DIR}/`)
        ? Number(/(?:^|\0)RABBITMQ_NODENAME=c(\d)@/.exec(environ)?.[1] ?? 0)
        : 0;
      if (n >= 1 && n <= 3) {
        out.cluster += seconds;
        out.nodes[n - 1]! += seconds;
      } else out.machine += seconds;
    } else if (command.startsWith('postgres')) out.postgres += seconds;
  }
  return out;
}

interface CpuPerEvent {
  gateway: number;
  store: number;
  broker: number;
  postgres: number;
}

interface Round {
  eventsPerSecond: number;
  accepted: number;
  cpu: CpuPerEvent;
}

async function storedCount(db: pg.Pool): Promise<number> {
  const r = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE event_type = $1', [
    EVENT_TYPE,
  ]);
  return r.rows[0]?.n ?? 0;
}

/** A store, then a gateway, on `amqpUrl` with `kind` queues and a fresh database. */
async function startStack(
  ctx: BenchContext,
  kind: Kind,
  amqpUrl: string,
  prefix: string,
  dbName: string,
): Promise<Stack> {
  await adminQuery(ctx.databaseUrl, `CREATE DATABASE ${dbName}`);
  const dbUrl = databaseUrlFor(ctx.databaseUrl, dbName);
  const db = new pg.Pool({ connectionString: dbUrl, max: 2 });
  db.on('error', () => {});
  const bus = {
    AMQP_URL: amqpUrl,
    BLOODBANK_EXCHANGE: `${prefix}.events`,
    BLOODBANK_DLX: `${prefix}.dlx`,
    BLOODBANK_QUEUE_TYPE: kind,
  };
  const store = await startPart(
    `store (${kind})`,
    'candystore',
    {
      ...bus,
      DATABASE_URL: dbUrl,
      CANDYSTORE_PORT: '0',
      CANDYSTORE_HOST: '127.0.0.1',
      CANDYSTORE_QUEUE: `${prefix}.store`,
    },
    ctx.log,
  );
  const gateway = await startPart(
    `gateway (${kind})`,
    'bloodbank',
    { ...bus, BLOODBANK_PORT: '0', BLOODBANK_HOST: '127.0.0.1', BLOODBANK_HEALTH_INTERVAL: '0' },
    ctx.log,
  );
  return { kind, amqpUrl, gateway, store, db };
}

/** Saturating POST /events for `seconds`, then until every accepted event is committed. */
async function round(ctx: BenchContext, s: Stack, seconds: number): Promise<Round> {
  const before = await storedCount(s.db);
  const server0 = serverCpu();
  const gateway0 = processCpuSeconds(s.gateway.pid);
  const store0 = processCpuSeconds(s.store.pid);
  const load = await hammer(s.gateway.url, { seconds });
  await waitFor(
    'every accepted event committed',
    180_000,
    async () => ((await storedCount(s.db)) >= before + load.accepted ? true : undefined),
    100,
  );
  const server1 = serverCpu();
  const per = (cpuSeconds: number) => (load.accepted > 0 ? (cpuSeconds * 1e6) / load.accepted : 0);
  const cpu: CpuPerEvent = {
    gateway: per(processCpuSeconds(s.gateway.pid) - gateway0),
    store: per(processCpuSeconds(s.store.pid) - store0),
    broker: per(s.kind === 'quorum' ? server1.cluster - server0.cluster : server1.machine - server0.machine),
    postgres: per(server1.postgres - server0.postgres),
  };
  const nodes =
    s.kind === 'quorum'
      ? ` (by node: ${server1.nodes.map((t, i) => `c${i + 1} ${per(t - server0.nodes[i]!).toFixed(0)}`).join(', ')})`
      : '';
  const eventsPerSecond = load.accepted / load.seconds;
  ctx.log(
    `${s.kind}: ${load.accepted} accepted in ${load.seconds.toFixed(1)} s (${load.failed} failed): ${eventsPerSecond.toFixed(0)} events/s; ` +
      `CPU µs/event gateway ${cpu.gateway.toFixed(0)}, store ${cpu.store.toFixed(0)}, broker ${cpu.broker.toFixed(0)}${nodes}, PostgreSQL ${cpu.postgres.toFixed(0)}; load average ${loadavg()[0]!.toFixed(1)}`,
  );
  return { eventsPerSecond, accepted: load.accepted, cpu };
}

/** SIGKILL of the node leading the store's queue under a paced load: refusal and ingest pause (ms). */
async function leaderKill(
  ctx: BenchContext,
  s: Stack,
  storeQueue: string,
): Promise<{ victim: number; firstAcceptedMs: number; pauseMs: number }> {
  const { leader } = await queueLeader(storeQueue);
  const victim = Number(/^c(\d)@/.exec(leader ?? '')?.[1] ?? 0);
  if (!victim) throw new Error(`no leader for ${storeQueue}: ${leader}`);
  const load = startLoad({
    gateways: [s.gateway.url],
    eventsPerSecond: KILL_LOAD_PER_SECOND,
    ticketEveryMs: 0,
    planeSecret: '',
  });
  let killedAt = 0;
  try {
    await new Promise((r) => setTimeout(r, 4000));
    killedAt = await killNode(victim);
    const firstAccepted = await waitFor(
      'a 202 for a request sent after the kill',
      60_000,
      async () => {
        const a = load.answers.find((x) => x.sentAt > killedAt && x.status === 202);
        return a ? a.answeredAt : undefined;
      },
      50,
    );
    await new Promise((r) => setTimeout(r, 10_000));
    await load.stop();
    const stopAt = Date.now();
    const ids = [...load.accepted];
    await waitFor(
      'every event accepted through the kill committed',
      120_000,
      async () => {
        const r = await s.db.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM events WHERE event_id = ANY($1::uuid[])',
          [ids],
        );
        return (r.rows[0]?.n ?? 0) >= ids.length ? true : undefined;
      },
      250,
    );
    const commits = (
      await s.db.query<{ t: number }>(
        'SELECT DISTINCT (extract(epoch FROM received_at) * 1000)::float8 AS t FROM events WHERE received_at > to_timestamp($1::float8 / 1000) ORDER BY t',
        [killedAt - 1000],
      )
    ).rows.map((r) => Number(r.t));
    const pauseMs = ingestPause(commits, killedAt, stopAt);
    const w = refusalWindow(load.answers, 0, killedAt, stopAt);
    ctx.log(
      `leader kill: ${nodeName(victim)} led ${storeQueue}; first 202 for a request sent after the signal ${firstAccepted - killedAt} ms after it; ` +
        `${w.refusals} requests refused or unanswered${w.refusedMs === null ? '' : ` (first refusal to first 202: ${w.refusedMs} ms)`}, slowest 202 ${w.slowestAcceptedMs} ms; ` +
        `ingest paused ${pauseMs} ms; ${ids.length} accepted, all committed`,
    );
    return { victim, firstAcceptedMs: firstAccepted - killedAt, pauseMs };
  } finally {
    await load.stop();
  }
}

export const suite: BenchSuite = async (ctx: BenchContext): Promise<BenchResult[]> => {
  const id = randomBytes(4).toString('hex');
  const prefix = `bench.${id}`;
  const storeQueue = `${prefix}.store`;
  const known = [
    storeQueue,
    `${storeQueue}.dlq`,
    ...['1s', '10s', '1m', '10m'].map((t) => `${storeQueue}.retry.${t}`),
    `${prefix}.dlx.monitor`,
    `${prefix}.events.unroutable`,
    `${prefix}.events`,
    `${prefix}.dlx`,
  ];
  const stacks: Stack[] = [];
  const dbNames = { quorum: `bench_cluster_quorum_${id}`, classic: `bench_cluster_classic_${id}` };
  let startedHere = true;
  let killed = 0;
  try {
    const c = await startCluster();
    startedHere = !c.reused;
    ctx.log(c.reused ? 'cluster reused' : `cluster formed in ${c.ms} ms`);
    const quorum = await startStack(ctx, 'quorum', CLUSTER_AMQP_URL, prefix, dbNames.quorum);
    stacks.push(quorum);
    const classic = await startStack(ctx, 'classic', ctx.amqpUrl, prefix, dbNames.classic);
    stacks.push(classic);
    const members = (await queueLeader(storeQueue)).members;
    if (members.length !== 3) throw new Error(`${storeQueue} has members ${members.join(', ')}`);

    const seconds = Math.max(3, Math.round(8 * ctx.scale));
    await hammer(quorum.gateway.url, { amount: 500 }); // warm-up: JIT, connections
    await hammer(classic.gateway.url, { amount: 500 });
    const runs: Record<Kind, Round[]> = { quorum: [], classic: [] };
    // Each round under the restart lock: someone else's restart of the machine's RabbitMQ or
    // PostgreSQL during a round would make its figures meaningless. A round that got nothing
    // accepted anyway (the broker was down all along) is left out.
    for (let r = 0; r < 2; r++) {
      for (const s of [classic, quorum]) {
        const x = await withoutRestarts(ctx.log, () => round(ctx, s, seconds));
        if (x.accepted > 0) runs[s.kind].push(x);
        else ctx.log(`${s.kind}: nothing accepted in this round; left out`);
      }
    }
    if (runs.classic.length === 0 || runs.quorum.length === 0)
      throw new Error('a kind had no round with events accepted');
    const best = (k: Kind) => Math.max(...runs[k].map((x) => x.eventsPerSecond));
    // CPU per event: the mean over the rounds, weighted by their events.
    const cpu = (k: Kind, part: keyof CpuPerEvent) => {
      const n = runs[k].reduce((s, x) => s + x.accepted, 0);
      return runs[k].reduce((s, x) => s + x.cpu[part] * x.accepted, 0) / n;
    };

    const kill = await withoutRestarts(ctx.log, () => leaderKill(ctx, quorum, storeQueue));
    killed = kill.victim;

    const cpuRows = (['gateway', 'store', 'broker', 'postgres'] as const).map((part) =>
      result(
        `CPU per event accepted and committed, ${part === 'postgres' ? 'PostgreSQL' : part === 'broker' ? 'RabbitMQ (3 nodes together)' : part}, quorum cluster (µs, lower is better)`,
        cpu('quorum', part),
        'µs',
        `the same, classic queues on the single node${part === 'broker' ? ' (that node)' : ''}`,
        cpu('classic', part),
      ),
    );
    return [
      result(
        'gateway POST /events into quorum queues on the 3-node cluster (events/s), RabbitMQ quotes ~0.8 × classic',
        best('quorum'),
        'events/s',
        'the same into classic queues on the single machine node',
        best('classic'),
      ),
      result(
        'publish refused during a leader kill: s from the SIGKILL to the first 202 (lower is better)',
        kill.firstAcceptedMs / 1000,
        's',
        'target ≤ 10 s',
        10,
      ),
      result(
        'ingest pause during that kill: s without a commit (lower is better)',
        kill.pauseMs / 1000,
        's',
        'target ≤ 15 s',
        15,
      ),
      ...cpuRows,
    ];
  } finally {
    for (const s of stacks) {
      await stopChild(s.store);
      await stopChild(s.gateway);
      await s.db.end().catch(() => {});
    }
    for (const name of Object.values(dbNames)) {
      await adminQuery(ctx.databaseUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    }
    await cleanBroker(ctx.amqpUrl, prefix, known).catch(() => {});
    if (startedHere) await stopCluster();
    else {
      if (killed) await restartNode(killed).catch(() => {});
      await cleanBroker(CLUSTER_AMQP_URL.split(',')[0]!, prefix, known).catch(() => {});
    }
  }
};
