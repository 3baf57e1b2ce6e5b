// The whole system on the three-node cluster (scripts/rabbitmq-cluster.mjs) under steady load,
// with the deployment's settings (deploy/compose.yaml): every part given the node list,
// BLOODBANK_QUEUE_TYPE=quorum, and the topology of services/registry.yaml applied with
// `bloodbank topology apply` (the same plan as deploy/rabbitmq/definitions.json, checked here).
//
// Two gateways (each with the node list in another order), two stores consuming
// `candystore.events` into one fresh PostgreSQL database, one dispatcher handing ready Plane
// tickets to a local OpenClaw stand-in, and a verification queue bound `#` on the events
// exchange. Under load (events with their own ids through both gateways, signed Plane
// webhooks for ready tickets): the node leading `candystore.events` is SIGKILLed, then
// restarted; then the node leading it next; then one gateway and one store are SIGKILLed and
// started again. Every event answered 202 must be stored exactly once and reach the
// verification queue; every ready ticket must reach OpenClaw exactly once. The suite prints
// how long each gateway refused publishing and how long the ingest paused at each fault.
//
// The cluster is started here when it is not running and stopped in `after`; one started
// beforehand is reused and left running (what this suite declared on it is deleted). Nothing
// is declared on the machine's own broker.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { createTransport, planTopology, resolveTopologyOptions, type Transport } from '@33god/bloodbank';
import { loadServiceRegistry } from '@33god/holyfields';
import pg from 'pg';
import type { CliIo } from '../../packages/bloodbank/src/cli/command.js';
import { main as bloodbank } from '../../packages/bloodbank/src/cli.js';
import { Part, startOpenClaw } from '../faults/parts.js';
import { assertNothingLost, freePort, freshDatabase, rid, waitFor } from '../faults/support.js';
import {
  amqpUrl,
  CLUSTER_AMQP_URL,
  CLUSTER_MANAGEMENT_URL,
  clusterStatus,
  killNode,
  management,
  managementUrl,
  nodeName,
  queueLeader,
  restartNode,
  useCluster,
} from './harness.js';
import { ingestPause, refusalReasons, refusalWindow, startLoad, watchBrokerStates } from './parts.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const REGISTRY = join(ROOT, 'services', 'registry.yaml');
const DEFINITIONS = join(ROOT, 'deploy', 'rabbitmq', 'definitions.json');
const STORE_QUEUE = 'candystore.events';
const PLANE_SECRET = 'cluster-load-plane-secret';
const HOOK_TOKEN = 'cluster-load-hook-token';
const EVENTS_PER_SECOND = 80;
const TICKET_EVERY_MS = 500;
const ALL_NODES = [1, 2, 3].map(nodeName);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** AMQP_URL and AMQP_MANAGEMENT_URL with the nodes in this order. */
const nodeList = (order: readonly number[]) => ({
  AMQP_URL: order.map(amqpUrl).join(','),
  AMQP_MANAGEMENT_URL: order.map(managementUrl).join(','),
});
const nodeNumber = (name: string | null): number => Number(/^c(\d)@/.exec(name ?? '')?.[1] ?? 0);

const cluster = useCluster();

interface QueueRow {
  name: string;
  type: string;
  members?: string[];
  online?: string[];
  arguments?: Record<string, unknown>;
}

/** What `topology apply` declares for the registry with quorum queues (deploy/'s names). */
async function plannedTopology(): Promise<{ queues: string[]; exchanges: string[] }> {
  const plan = planTopology(
    await loadServiceRegistry(REGISTRY),
    resolveTopologyOptions({ queueType: 'quorum' }, {}),
  );
  return { queues: plan.queues.map((q) => q.name), exchanges: plan.exchanges.map((e) => e.name) };
}

/** Deletes the planned queues and exchanges (a reused cluster: before, for a clean start, and after). */
async function deletePlanned(planned: { queues: string[]; exchanges: string[] }): Promise<void> {
  const t = await createTransport({ url: CLUSTER_AMQP_URL });
  try {
    for (const q of planned.queues) await t.deleteQueue(q).catch(() => {});
    for (const e of planned.exchanges) await t.deleteExchange(e).catch(() => {});
  } finally {
    await t.close();
  }
}

async function applyTopology(): Promise<void> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env: { AMQP_URL: CLUSTER_AMQP_URL, BLOODBANK_QUEUE_TYPE: 'quorum' },
  };
  // `topology check` reads the management URL from the process's environment (openTransport).
  const saved = process.env.AMQP_MANAGEMENT_URL;
  process.env.AMQP_MANAGEMENT_URL = CLUSTER_MANAGEMENT_URL;
  try {
    assert.equal(await bloodbank(['topology', 'apply', '--registry', REGISTRY], io), 0, err.join('\n'));
    const check: string[] = [];
    assert.equal(
      await bloodbank(['topology', 'check', '--registry', REGISTRY], { ...io, out: (l) => check.push(l) }),
      0,
      check.join('\n'),
    );
  } finally {
    if (saved === undefined) delete process.env.AMQP_MANAGEMENT_URL;
    else process.env.AMQP_MANAGEMENT_URL = saved;
  }
}

/** Every queue the registry plans is quorum, has a member on each node, and matches deploy/'s definitions. */
async function checkReplicated(planned: readonly string[]): Promise<void> {
  const rows = await management<QueueRow[]>('/api/queues/%2F?columns=name,type,members,arguments');
  const byName = new Map(rows.map((r) => [r.name, r]));
  for (const name of planned) {
    const q = byName.get(name);
    assert.ok(q, `${name} declared`);
    assert.equal(q.type, 'quorum', `${name} is a quorum queue`);
    assert.deepEqual([...(q.members ?? [])].sort(), ALL_NODES, `${name} has a member on each node`);
  }
  const definitions = JSON.parse(readFileSync(DEFINITIONS, 'utf8')) as {
    queues: { name: string; arguments: Record<string, unknown> }[];
  };
  assert.deepEqual(
    definitions.queues.map((q) => q.name).sort(),
    [...planned].sort(),
    'deploy/rabbitmq/definitions.json declares the queues topology apply declared',
  );
  for (const q of definitions.queues) {
    assert.deepEqual(
      byName.get(q.name)?.arguments,
      q.arguments,
      `${q.name}: arguments as in definitions.json`,
    );
  }
}

/** The members of a quorum queue that are online (every member when the API does not say). */
async function onlineMembers(queue: string): Promise<string[]> {
  const q = await management<QueueRow>(`/api/queues/%2F/${encodeURIComponent(queue)}`);
  return q.online ?? q.members ?? [];
}

interface Fault {
  name: string;
  at: number;
  until: number;
  notes: string[];
}

test('two gateways, two stores and a dispatcher on the cluster: node and process kills lose nothing', {
  timeout: 600_000,
}, async () => {
  const id = rid();
  const verifyQueue = `test.${id}.verify`;
  const dir = mkdtempSync(join(tmpdir(), 'cluster-load-'));
  const db = await freshDatabase('cluster_load');
  const openclaw = await startOpenClaw(HOOK_TOKEN);
  const ports = {
    gatewayA: await freePort(),
    gatewayB: await freePort(),
    storeA: await freePort(),
    storeB: await freePort(),
    dispatcher: await freePort(),
  };
  const base: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LOG_LEVEL: 'warn',
    BLOODBANK_QUEUE_TYPE: 'quorum',
    SERVICES_REGISTRY: REGISTRY,
  };
  const gateway = (name: string, port: number, order: number[]) =>
    new Part(
      name,
      'packages/bloodbank/src/cli.ts',
      {
        ...base,
        ...nodeList(order),
        BLOODBANK_PORT: String(port),
        BLOODBANK_HOST: '127.0.0.1',
        BLOODBANK_HEALTH_INTERVAL: '0',
        PLANE_WEBHOOK_SECRET: PLANE_SECRET,
      },
      `http://127.0.0.1:${port}/health`,
    );
  const store = (name: string, port: number, order: number[]) =>
    new Part(
      name,
      'packages/candystore/src/cli.ts',
      {
        ...base,
        ...nodeList(order),
        DATABASE_URL: db.url,
        CANDYSTORE_PORT: String(port),
        CANDYSTORE_HOST: '127.0.0.1',
        CANDYSTORE_QUEUE: STORE_QUEUE,
        CANDYSTORE_PUBLISH_PERSISTED: 'false',
      },
      `http://127.0.0.1:${port}/health`,
    );
  // Each part starts on another node, so every node kill takes some part's connection.
  const gatewayA = gateway('gateway A', ports.gatewayA, [1, 2, 3]);
  const gatewayB = gateway('gateway B', ports.gatewayB, [2, 3, 1]);
  const storeA = store('store A', ports.storeA, [1, 3, 2]);
  const storeB = store('store B', ports.storeB, [3, 2, 1]);
  const dispatcher = new Part(
    'dispatcher',
    'packages/infra-dispatcher/src/cli.ts',
    {
      ...base,
      ...nodeList([2, 1, 3]),
      OPENCLAW_HOOK_TOKEN: HOOK_TOKEN,
      OPENCLAW_HOOK_URL: openclaw.url,
      INFRA_DISPATCH_STATE_PATH: join(dir, 'dispatch-state.json'),
      INFRA_DISPATCHER_PORT: String(ports.dispatcher),
      INFRA_RUN_CHECKS: 'false',
    },
    `http://127.0.0.1:${ports.dispatcher}/health`,
  );
  const parts = [gatewayA, gatewayB, storeA, storeB, dispatcher];

  const planned = await plannedTopology();
  let verify: Transport | null = null;
  let load: ReturnType<typeof startLoad> | null = null;
  let brokerStates: ReturnType<typeof watchBrokerStates> | null = null;
  let downNode = 0;
  const delivered = new Map<string, number>();
  const faults: Fault[] = [];
  const client = new pg.Client({ connectionString: db.url });
  const storedCount = async (): Promise<number> =>
    client
      .query<{ n: number }>('SELECT count(*)::int AS n FROM events')
      .then((r) => r.rows[0]?.n ?? 0)
      .catch(() => -1);
  const allHealthy = async () => {
    for (const p of parts) await p.healthy(90_000);
  };
  /** After a fault: every part healthy, and both publishing and ingest moving again. */
  const recovered = async (fault: Fault) => {
    const accepted = load!.accepted.size;
    const stored = await storedCount();
    await allHealthy();
    await waitFor('200 more events accepted', 60_000, () => load!.accepted.size >= accepted + 200, 100);
    await waitFor('the stores committing again', 60_000, async () => (await storedCount()) > stored, 200);
    fault.notes.push(`every part healthy and publishing and ingest moving ${Date.now() - fault.at} ms after`);
  };

  /** SIGKILL of a node (the leader of the store's queue unless told otherwise), recovery, restart. */
  const nodeKill = async (label: string, avoid: number) => {
    const { leader } = await queueLeader(STORE_QUEUE);
    let victim = nodeNumber(leader);
    const notes: string[] = [`${STORE_QUEUE} led by ${leader}`];
    if (victim === 0 || victim === avoid) {
      victim = [1, 2, 3].find((n) => n !== avoid && n !== nodeNumber(leader))!;
      notes.push(`not its leader: it was killed before; ${nodeName(victim)} instead`);
    }
    const fault: Fault = { name: `${label}: SIGKILL ${nodeName(victim)}`, at: 0, until: 0, notes };
    faults.push(fault);
    downNode = victim;
    fault.at = await killNode(victim);
    const elected = await waitFor(
      'a new leader of the store queue',
      60_000,
      async () => {
        const l = await queueLeader(STORE_QUEUE).catch(() => null);
        return l?.leader && l.leader !== nodeName(victim) ? l.leader : undefined;
      },
      200,
    );
    notes.push(`new leader ${elected} seen ${Date.now() - fault.at} ms after the signal`);
    await recovered(fault);
    await sleep(3000);
    fault.until = Date.now();
    const t0 = Date.now();
    await restartNode(victim);
    downNode = 0;
    await waitFor(
      `${nodeName(victim)} back in the cluster and in the store queue`,
      90_000,
      async () => {
        const s = await clusterStatus();
        if ((s.cluster?.running.length ?? 0) < 3) return false;
        return (await onlineMembers(STORE_QUEUE)).includes(nodeName(victim));
      },
      500,
    );
    notes.push(`${nodeName(victim)} restarted and back in the queue in ${Date.now() - t0} ms`);
    await allHealthy();
    await sleep(3000);
    return victim;
  };

  try {
    await client.connect();
    if (!cluster.startedHere()) await deletePlanned(planned);
    await applyTopology();
    await checkReplicated(planned.queues);
    console.log(
      `# topology apply: ${planned.queues.length} quorum queues with a member on each of the 3 nodes, arguments as in deploy/rabbitmq/definitions.json`,
    );

    verify = await createTransport({ url: [3, 1, 2].map(amqpUrl).join(',') });
    await verify.assertQueue(verifyQueue, { durable: true, queueType: 'quorum' });
    await verify.bindQueue(verifyQueue, 'bloodbank.events.v1', '#');
    await verify.consume(
      verifyQueue,
      (d) => {
        try {
          const eid = (JSON.parse(d.body.toString('utf8')) as { event_id: string }).event_id;
          delivered.set(eid, (delivered.get(eid) ?? 0) + 1);
        } catch {}
        d.ack();
      },
      { prefetch: 500 },
    );

    for (const p of parts) p.start();
    await allHealthy();
    brokerStates = watchBrokerStates([gatewayA.healthUrl, gatewayB.healthUrl]);

    load = startLoad({
      gateways: [`http://127.0.0.1:${ports.gatewayA}`, `http://127.0.0.1:${ports.gatewayB}`],
      eventsPerSecond: EVENTS_PER_SECOND,
      ticketEveryMs: TICKET_EVERY_MS,
      planeSecret: PLANE_SECRET,
    });
    await waitFor('500 events accepted', 60_000, () => load!.accepted.size >= 500, 100);
    const baselineFrom = Date.now();
    await sleep(5000);
    const baselineTo = Date.now();

    const first = await nodeKill('node kill 1', 0);
    await nodeKill('node kill 2', first);

    const partsFault: Fault = { name: 'SIGKILL gateway A and store A', at: Date.now(), until: 0, notes: [] };
    faults.push(partsFault);
    await Promise.all([gatewayA.kill9(), storeA.kill9()]);
    await sleep(1000);
    gatewayA.start();
    storeA.start();
    await recovered(partsFault);
    await sleep(3000);
    partsFault.until = Date.now();

    await load.stop();
    await brokerStates.stop();
    const acceptedIds = [...load.accepted];
    const storedCounts = async () => {
      const r = await client.query<{ event_id: string; n: number }>(
        'SELECT event_id::text AS event_id, count(*)::int AS n FROM events WHERE event_id = ANY($1::uuid[]) GROUP BY event_id',
        [acceptedIds],
      );
      return new Map(r.rows.map((row) => [row.event_id, row.n]));
    };
    let stored = new Map<string, number>();
    const ready = [...load.readyTickets.keys()];
    const dispatches = (issue: string) => openclaw.bySession.get(`hook:infra:${issue}`) ?? 0;
    await waitFor(
      'the stores, the verification queue and the dispatcher to catch up',
      90_000,
      async () => {
        stored = await storedCounts();
        return (
          stored.size === acceptedIds.length &&
          acceptedIds.every((e) => delivered.has(e)) &&
          ready.every((t) => dispatches(t) > 0)
        );
      },
      500,
    ).catch(() => {});
    await sleep(2000); // a doubled row, delivery or dispatch would show up now
    stored = await storedCounts();
    const duplicates = await client.query<{ event_id: string; n: number }>(
      'SELECT event_id::text AS event_id, count(*)::int AS n FROM events GROUP BY event_id HAVING count(*) > 1',
    );
    const commitTimes = (
      await client.query<{ t: number }>(
        'SELECT DISTINCT (extract(epoch FROM received_at) * 1000)::float8 AS t FROM events ORDER BY t',
      )
    ).rows.map((r) => Number(r.t));

    const missingInStore = acceptedIds.filter((e) => !stored.has(e));
    const missingDelivered = acceptedIds.filter((e) => !delivered.has(e));
    const notDispatched = ready.filter((t) => dispatches(t) === 0);
    const dispatchedTwice = ready.filter((t) => dispatches(t) > 1);
    const statuses = new Map<number, number>();
    for (const a of load.answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);

    const lines = ['cluster load suite:'];
    lines.push(
      `  baseline: longest pause between commits ${ingestPause(commitTimes, baselineFrom, baselineTo)} ms over 5 s of steady load`,
    );
    for (const f of faults) {
      lines.push(`  ${f.name}`);
      for (const n of f.notes) lines.push(`    ${n}`);
      for (const [g, name] of ['gateway A', 'gateway B'].entries()) {
        const w = refusalWindow(load.answers, g, f.at, f.until);
        lines.push(
          `    ${name}: ${
            w.refusedMs === null
              ? w.refusals === 0
                ? 'refused nothing'
                : `${w.refusals} refused, no 202 after them in the window`
              : `publishing refused for ${w.refusedMs} ms (first refusal to first 202; ${w.refusals} requests refused or unanswered)`
          }; slowest 202 ${w.slowestAcceptedMs} ms`,
        );
        for (const r of refusalReasons(load.answers, g, f.at, f.until).slice(0, 4)) lines.push(`      ${r}`);
        lines.push(`      broker as its /health said: ${brokerStates.timeline(g, f.at, f.until).join('; ')}`);
        for (const l of [gatewayA, gatewayB][g]!.linesBetween(f.at, f.until, 8)) lines.push(`      log ${l}`);
      }
      lines.push(
        `    ingest paused ${ingestPause(commitTimes, f.at, f.until)} ms (longest time without a commit after the fault)`,
      );
    }
    lines.push(
      `  requests: ${load.answers.length} (${[...statuses.entries()].map(([s, n]) => `${s === 0 ? 'no answer' : s}=${n}`).join(', ')}), abandoned ${load.abandoned}`,
      `  answered 202: ${acceptedIds.length}; stored: ${stored.size}; rows stored more than once: ${duplicates.rows.length}`,
      `  delivered to the verification queue: ${acceptedIds.length - missingDelivered.length} (${acceptedIds.filter((e) => (delivered.get(e) ?? 0) > 1).length} more than once)`,
      `  ready tickets answered 202: ${ready.length}; dispatched: ${ready.length - notDispatched.length}; more than once: ${dispatchedTwice.length}`,
      `  process starts: ${parts.map((p) => `${p.name} ${p.starts}`).join(', ')}`,
    );
    console.log(lines.join('\n'));

    assert.ok(acceptedIds.length > 2000, 'the load really ran');
    assert.ok(ready.length >= 20, 'ready tickets went through');
    assertNothingLost({
      missingInStore,
      storedTwice: duplicates.rows,
      stored,
      missingDelivered,
      notDispatched,
    });
    assert.deepEqual(
      dispatchedTwice.map((t) => `${t}: ${dispatches(t)}`),
      [],
      'ready tickets dispatched to OpenClaw more than once',
    );
  } catch (err) {
    for (const p of parts) console.log(`--- last output of ${p.name} ---\n${p.tail()}`);
    throw err;
  } finally {
    await load?.stop().catch(() => {});
    await brokerStates?.stop().catch(() => {});
    for (const p of parts) await p.stop().catch(() => {});
    if (downNode) await restartNode(downNode).catch(() => {});
    await client.end().catch(() => {});
    await openclaw.close();
    await verify?.deleteQueue(verifyQueue).catch(() => {});
    await verify?.close().catch(() => {});
    // A reused cluster keeps running: take back what this suite declared on it.
    if (!cluster.startedHere()) await deletePlanned(planned).catch(() => {});
    await db.drop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
});
