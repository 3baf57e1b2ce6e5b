// RabbitMQ and PostgreSQL only (they are what gets restarted). The gateway, the store and
// the dispatcher run as child processes (`serve` from the sources, each configured only by
// its environment), a local HTTP server stands in for OpenClaw, and an in-test client keeps
// a steady publish load on the gateway: ~150 test.event.created a second plus a signed,
// ready Plane ticket every 400 ms. During the load, in turn: RabbitMQ is restarted,
// PostgreSQL is restarted, and the store, the dispatcher and the gateway are each killed
// with SIGKILL and started again. Afterwards every event answered 202 must be stored
// exactly once, must have reached a verification queue bound `#` on the exchange, and
// every ready ticket answered 202 must have been dispatched to OpenClaw exactly once, but
// for the ones the dispatcher was sending when it was killed (OpenClaw answers after 150 ms,
// and the kill waits for a request in flight): those reach OpenClaw twice, and the completed
// event says `possible_duplicate`.
// The test holds the shared restart lock (/tmp/33god-restart.lock) from start to end.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createTransport, dlqName, retryQueueName, type Transport } from '@33god/bloodbank';
import pg from 'pg';
import { Part, startOpenClaw } from './parts.js';
import {
  assertNothingLost,
  deleteFromRabbit,
  freePort,
  freshDatabase,
  readyPlaneTicket,
  rid,
  TEST_AMQP_URL,
  waitFor,
} from './support.js';

const LOCK = '/tmp/33god-restart.lock';
const PLANE_SECRET = 'restart-test-plane-secret';
const HOOK_TOKEN = 'restart-test-hook-token';
const RATE = 150;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a command to completion; no pipes (a server it restarts would inherit them). */
function run(cmd: string, args: string[], timeoutMs = 120_000): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(cmd, args, { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolveRun();
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}`));
    });
  });
}

/**
 * Holds the shared restart lock until the returned function is called. The test holds it
 * from start to end: its own restarts happen inside, and nobody else restarts the broker or
 * the database meanwhile (a part that cannot reach them at its start exits, as a supervised
 * service would, and this test has no supervisor). `-o`: the holder's child does not keep
 * the lock; the lock goes with the holder, and at the latest after 300 s.
 */
async function holdLock(): Promise<() => void> {
  const holder = spawn('flock', ['-o', '-w', '90', LOCK, 'sh', '-c', 'echo locked; exec sleep 300'], {
    stdio: ['ignore', 'pipe', 'ignore'],
    detached: true,
  });
  const release = () => {
    try {
      process.kill(-holder.pid!, 'SIGKILL');
    } catch {}
  };
  await new Promise<void>((resolveLock, reject) => {
    holder.stdout!.once('data', () => resolveLock());
    holder.once('exit', (code) =>
      reject(new Error(`could not take the restart lock (flock exited with ${code})`)),
    );
  }).catch((err) => {
    release();
    throw err;
  });
  return release;
}

const OPENCLAW_ANSWER_MS = 150;

const pgCluster = () => readdirSync('/etc/postgresql')[0]!;

/** The issues a dispatcher's state file notes as being sent to OpenClaw (outcome not recorded). */
function sendingIn(statePath: string): Set<string> {
  if (!existsSync(statePath)) return new Set();
  const state = JSON.parse(readFileSync(statePath, 'utf8')) as {
    issues: Record<string, Array<{ sending?: boolean }>>;
  };
  return new Set(
    Object.entries(state.issues)
      .filter(([, records]) => records.some((r) => r.sending === true))
      .map(([issue]) => issue),
  );
}

// --- load ------------------------------------------------------------------------------

interface LoadStats {
  sent: number;
  accepted: Set<string>;
  rejected: number;
  failed: number;
  byStatus: Map<string, number>;
  ticketsSent: number;
  readyTickets: Map<string, string>;
}

function startLoad(gatewayUrl: string): { stats: LoadStats; stop(): Promise<void> } {
  const stats: LoadStats = {
    sent: 0,
    accepted: new Set(),
    rejected: 0,
    failed: 0,
    byStatus: new Map(),
    ticketsSent: 0,
    readyTickets: new Map(),
  };
  let running = true;
  const inflight = new Set<Promise<void>>();
  const count = (key: string) => stats.byStatus.set(key, (stats.byStatus.get(key) ?? 0) + 1);

  const post = async (path: string, body: string, headers: Record<string, string>) => {
    try {
      const res = await fetch(`${gatewayUrl}${path}`, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      count(String(res.status));
      if (res.status === 202) return (JSON.parse(text) as { event_id: string }).event_id;
      stats.rejected++;
    } catch (err) {
      count(`error ${(err as Error).name}`);
      stats.failed++;
    }
    return null;
  };

  const event = async (n: number) => {
    stats.sent++;
    const id = await post(
      '/events',
      JSON.stringify({ event_type: 'test.event.created', payload: { message: `load ${n}` } }),
      { 'content-type': 'application/json' },
    );
    if (id) stats.accepted.add(id);
  };

  const ticket = async () => {
    stats.ticketsSent++;
    const issueId = randomUUID();
    const raw = readyPlaneTicket(issueId, 'Restart-test ticket');
    const id = await post('/webhooks/plane', raw, {
      'content-type': 'application/json',
      'x-plane-delivery': randomUUID(),
      'x-plane-signature': createHmac('sha256', PLANE_SECRET).update(raw).digest('hex'),
    });
    if (id) {
      stats.accepted.add(id);
      stats.readyTickets.set(issueId, id);
    }
  };

  const track = (p: Promise<void>) => {
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };
  const loop = (async () => {
    const interval = 1000 / RATE;
    let next = performance.now();
    let n = 0;
    while (running) {
      // an outage must not pile up unbounded requests
      if (inflight.size < 200) track(event(n));
      if (n % Math.round(RATE * 0.4) === 0) track(ticket());
      n++;
      next += interval;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      else if (wait < -1000) next = performance.now();
    }
  })();
  return {
    stats,
    async stop() {
      running = false;
      await loop;
      await Promise.all([...inflight]);
    },
  };
}

// --- the test --------------------------------------------------------------------------

test('under steady load: RabbitMQ, PostgreSQL, store, dispatcher and gateway restarts lose nothing', {
  timeout: 240_000,
}, async () => {
  const id = rid();
  const exchange = `test.${id}.events`;
  const dlx = `test.${id}.dlx`;
  const storeQueue = `test.${id}.store`;
  const dispatchQueue = `test.${id}.dispatch`;
  const verifyQueue = `test.${id}.verify`;
  const dir = mkdtempSync(join(tmpdir(), 'faults-restarts-'));
  const db = await freshDatabase('restarts');
  const openclaw = await startOpenClaw(HOOK_TOKEN, OPENCLAW_ANSWER_MS);
  const [gatewayPort, storePort, dispatcherPort] = [await freePort(), await freePort(), await freePort()];

  const base: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LOG_LEVEL: 'warn',
    AMQP_URL: TEST_AMQP_URL,
    BLOODBANK_EXCHANGE: exchange,
    BLOODBANK_DLX: dlx,
  };
  const store = new Part(
    'store',
    'packages/candystore/src/cli.ts',
    {
      ...base,
      DATABASE_URL: db.url,
      CANDYSTORE_PORT: String(storePort),
      CANDYSTORE_HOST: '127.0.0.1',
      CANDYSTORE_QUEUE: storeQueue,
      CANDYSTORE_PUBLISH_PERSISTED: 'false',
    },
    `http://127.0.0.1:${storePort}/health`,
  );
  const gateway = new Part(
    'gateway',
    'packages/bloodbank/src/cli.ts',
    {
      ...base,
      BLOODBANK_PORT: String(gatewayPort),
      BLOODBANK_HOST: '127.0.0.1',
      BLOODBANK_HEALTH_INTERVAL: '0',
      PLANE_WEBHOOK_SECRET: PLANE_SECRET,
    },
    `http://127.0.0.1:${gatewayPort}/health`,
  );
  const dispatcher = new Part(
    'dispatcher',
    'packages/infra-dispatcher/src/cli.ts',
    {
      ...base,
      OPENCLAW_HOOK_TOKEN: HOOK_TOKEN,
      OPENCLAW_HOOK_URL: openclaw.url,
      INFRA_DISPATCH_QUEUE: dispatchQueue,
      INFRA_DISPATCH_STATE_PATH: join(dir, 'dispatch-state.json'),
      INFRA_DISPATCHER_PORT: String(dispatcherPort),
      INFRA_RUN_CHECKS: 'false',
    },
    `http://127.0.0.1:${dispatcherPort}/health`,
  );
  const parts = [store, gateway, dispatcher];
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;

  let verify: Transport | null = null;
  const delivered = new Map<string, number>();
  let rabbitStopped = false;
  let postgresStopped = false;
  let load: ReturnType<typeof startLoad> | null = null;
  let releaseLock = () => {};
  const phases: string[] = [];
  // Issues whose dispatch the killed dispatcher had noted as being sent, without OpenClaw's answer recorded.
  let sendingAtKill = new Set<string>();
  const outages = { rabbitmq: Number.NaN, postgresql: Number.NaN };
  const phase = async (name: string, fault: () => Promise<void>) => {
    const started = Date.now();
    await fault();
    for (const p of parts) await p.healthy(60_000);
    phases.push(
      `${name}: ${((Date.now() - started) / 1000).toFixed(1)} s until every part was healthy again`,
    );
    await sleep(2000); // load on the recovered system before the next fault
  };

  try {
    releaseLock = await holdLock();
    // The store first: it declares the exchange and its queue bound `#`.
    store.start();
    await store.healthy(60_000);
    verify = await createTransport({ url: TEST_AMQP_URL });
    await verify.assertQueue(verifyQueue, { durable: true });
    await verify.bindQueue(verifyQueue, exchange, '#');
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
    gateway.start();
    dispatcher.start();
    await gateway.healthy(60_000);
    await dispatcher.healthy(60_000);

    load = startLoad(gatewayUrl);
    await sleep(3000);

    await phase('RabbitMQ restart (stop_app, 3 s, start_app)', async () => {
      // the shell notes when the broker went down and came back
      rabbitStopped = true;
      await run('sh', [
        '-c',
        `rabbitmqctl -q stop_app && date +%s%3N > ${dir}/down; sleep 3; rabbitmqctl -q start_app; date +%s%3N > ${dir}/up`,
      ]);
      rabbitStopped = false;
      outages.rabbitmq =
        Number(readFileSync(join(dir, 'up'), 'utf8')) - Number(readFileSync(join(dir, 'down'), 'utf8'));
    });
    await phase('PostgreSQL restart', async () => {
      postgresStopped = true;
      const started = Date.now();
      await run('pg_ctlcluster', ['--skip-systemctl-redirect', pgCluster(), 'main', 'restart']);
      outages.postgresql = Date.now() - started;
      postgresStopped = false;
    });
    await phase('store SIGKILL and restart', async () => {
      await store.kill9();
      await sleep(1000);
      store.start();
    });
    await phase('dispatcher SIGKILL and restart', async () => {
      // Killed while OpenClaw holds a request: the one case where a ticket may reach OpenClaw twice.
      await waitFor('a dispatch in flight', 10_000, async () => openclaw.inFlight() > 0, 5);
      await dispatcher.kill9();
      sendingAtKill = sendingIn(join(dir, 'dispatch-state.json'));
      await sleep(1000);
      dispatcher.start();
    });
    await phase('gateway SIGKILL and restart', async () => {
      await gateway.kill9();
      await sleep(1000);
      gateway.start();
    });
    await load.stop();
    const stats = load.stats;

    // Bounded catch-up: the store and the verification queue drain what is queued.
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const acceptedIds = [...stats.accepted];
    const storedCounts = async () => {
      const r = await client.query<{ event_id: string; n: number }>(
        'SELECT event_id::text AS event_id, count(*)::int AS n FROM events WHERE event_id = ANY($1::uuid[]) GROUP BY event_id',
        [acceptedIds],
      );
      return new Map(r.rows.map((row) => [row.event_id, row.n]));
    };
    let stored = new Map<string, number>();
    await waitFor(
      'the store and the verification queue to catch up',
      60_000,
      async () => {
        stored = await storedCounts();
        const deliveredAll = acceptedIds.every((e) => delivered.has(e));
        return stored.size === acceptedIds.length && deliveredAll;
      },
      500,
    ).catch(() => {});
    await sleep(1000); // a doubled row or delivery would show up now
    stored = await storedCounts();
    const duplicates = await client.query<{ event_id: string; n: number }>(
      'SELECT event_id::text AS event_id, count(*)::int AS n FROM events GROUP BY event_id HAVING count(*) > 1',
    );
    const flagged = await client.query<{ issue_id: string }>(
      `SELECT DISTINCT payload->>'issue_id' AS issue_id FROM events
        WHERE event_type = 'infra.dispatch.completed' AND payload->>'possible_duplicate' = 'true'`,
    );
    await client.end();
    const flaggedDuplicates = new Set(flagged.rows.map((r) => r.issue_id));

    const missingInStore = acceptedIds.filter((e) => !stored.has(e));
    const missingDelivered = acceptedIds.filter((e) => !delivered.has(e));
    const redelivered = acceptedIds.filter((e) => (delivered.get(e) ?? 0) > 1).length;
    const ready = [...stats.readyTickets.keys()];
    const dispatches = (issue: string) => openclaw.bySession.get(`hook:infra:${issue}`) ?? 0;
    const notDispatched = ready.filter((t) => dispatches(t) === 0);
    const dispatchedTwice = [...openclaw.bySession.entries()].filter(([, n]) => n > 1);
    // The one documented exception: OpenClaw accepted a ticket the dispatcher was killed before recording.
    // It may be sent again, only if the state file said it was being sent at the kill, and only flagged.
    const issueOf = (session: string) => session.replace(/^hook:infra:/, '');
    const unexplainedTwice = dispatchedTwice.filter(
      ([session, n]) =>
        n > 2 || !sendingAtKill.has(issueOf(session)) || !flaggedDuplicates.has(issueOf(session)),
    );

    console.log(
      [
        'fault suite (restarts under load):',
        ...phases.map((p) => `  ${p}`),
        `  RabbitMQ down for ${(outages.rabbitmq / 1000).toFixed(1)} s; PostgreSQL restart took ${(outages.postgresql / 1000).toFixed(1)} s`,
        `  events published (requests sent): ${stats.sent + stats.ticketsSent} (${stats.sent} events, ${stats.ticketsSent} Plane webhooks)`,
        `  answered 202: ${stats.accepted.size}`,
        `  rejected during outages (non-202 answers): ${stats.rejected}; failed (no answer): ${stats.failed}`,
        `  answers: ${[...stats.byStatus.entries()].map(([k, v]) => `${k}=${v}`).join(', ')}`,
        `  stored in Candystore: ${stored.size} of ${acceptedIds.length}; duplicates: ${duplicates.rows.length}`,
        `  delivered to the verification queue: ${acceptedIds.length - missingDelivered.length} of ${acceptedIds.length} (${redelivered} more than once)`,
        `  ready tickets answered 202: ${ready.length}; dispatched to OpenClaw: ${ready.length - notDispatched.length}; dispatched more than once: ${dispatchedTwice.length} (being sent at the dispatcher's SIGKILL: ${sendingAtKill.size})`,
        `  process starts: ${parts.map((p) => `${p.name} ${p.starts}`).join(', ')}`,
      ].join('\n'),
    );

    assert.ok(outages.rabbitmq > 0 && outages.rabbitmq <= 15_000, `RabbitMQ outage ${outages.rabbitmq} ms`);
    assert.ok(stats.accepted.size > 1000, 'the load really ran');
    assert.ok(ready.length >= 10, 'ready tickets went through');
    assertNothingLost({
      missingInStore,
      storedTwice: duplicates.rows,
      stored,
      missingDelivered,
      notDispatched,
    });
    assert.ok(sendingAtKill.size > 0, 'the dispatcher was killed while sending a ticket');
    assert.deepEqual(
      [...sendingAtKill].filter((issue) => !flaggedDuplicates.has(issue)),
      [],
      'a ticket being sent at the kill was sent again without possible_duplicate on its completed event',
    );
    assert.deepEqual(
      unexplainedTwice,
      [],
      'tickets dispatched to OpenClaw more than once, other than one being sent when the dispatcher was killed (and flagged possible_duplicate)',
    );
  } catch (err) {
    for (const p of parts) console.log(`--- last output of ${p.name} ---\n${p.tail()}`);
    throw err;
  } finally {
    await load?.stop().catch(() => {});
    // services first: whatever happened above, RabbitMQ and PostgreSQL are running afterwards
    if (rabbitStopped) await run('rabbitmqctl', ['-q', 'start_app']).catch(() => {});
    if (postgresStopped) {
      await run('pg_ctlcluster', ['--skip-systemctl-redirect', pgCluster(), 'main', 'start']).catch(() => {});
    }
    for (const p of parts) await p.stop().catch(() => {});
    await verify?.close().catch(() => {});
    await openclaw.close();
    const tiers = [1000, 10_000, 60_000, 600_000];
    await deleteFromRabbit(
      [
        verifyQueue,
        storeQueue,
        dlqName(storeQueue),
        dispatchQueue,
        dlqName(dispatchQueue),
        ...tiers.map((t) => retryQueueName(dispatchQueue, t)),
        `${dlx}.monitor`,
        `${exchange}.unroutable`,
      ],
      [exchange, dlx, `${exchange}.unroutable`],
    ).catch(() => {});
    releaseLock();
    await db.drop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
});
