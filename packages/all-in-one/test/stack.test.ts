import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type RunningStack, startStack } from '@33god/all-in-one';
import { createTransport, DEFAULT_RETRY_TIERS_MS, retryQueueName } from '@33god/bloodbank';
import pg from 'pg';

// The all-in-one stack with demo traffic, as `npm start -- --demo` runs it: every part in
// one process, the demo's example services acting over the bus. Run on the embedded
// broker and database, then on the real RabbitMQ and PostgreSQL.

interface ChainNode {
  event_id: string;
  missing: boolean;
  children: ChainNode[];
  event: { event_type: string } | null;
}

const depth = (n: ChainNode): number => 1 + Math.max(0, ...n.children.map(depth));

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}

async function getJson<T>(url: string, token?: string): Promise<T> {
  const res = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return (await res.json()) as T;
}

const ANY_PORT = { gateway: 0, store: 0, dashboard: 0, dispatcher: 0 };

/** Every address every part of `stack` listens on, as its server reports it. */
function boundAddresses(stack: RunningStack): string[] {
  const servers = [
    ...stack.store.addresses,
    ...stack.gateway.app.addresses(),
    ...stack.dashboard.app.addresses(),
    ...(stack.dispatcher?.addresses ?? []),
  ];
  return servers.map((a) => (typeof a === 'string' ? a : a.address));
}

async function exerciseStack(
  env: NodeJS.ProcessEnv,
  expect: { broker: string; brokerStorage: string | null; database: string },
) {
  const stack = await startStack({
    demo: true,
    inMemory: true,
    env,
    ports: ANY_PORT,
    demoTicketIntervalSeconds: 0.2,
  });
  try {
    assert.deepEqual(stack.mode, expect);
    assert.ok(stack.dispatcher, 'the demo starts the dispatcher (against the demo sink)');
    // Unless configured, every part listens on loopback only, and says so.
    assert.deepEqual([...new Set(boundAddresses(stack))], ['127.0.0.1']);
    for (const part of stack.parts) {
      assert.match(part.url, /^http:\/\/127\.0\.0\.1:\d+$/, part.name);
      for (const a of part.listening) assert.match(a, /^127\.0\.0\.1:\d+$/, part.name);
    }
    assert.equal(stack.auth, false);
    for (const part of stack.parts.slice(0, 3)) {
      const health = await fetch(`${part.url}/health`);
      assert.equal(health.status, 200, `${part.name} /health`);
    }
    const registry = await getJson<{ services: unknown[] }>(`${stack.dashboard.url}/api/registry`);
    assert.ok(registry.services.length >= 4, 'the dashboard serves the registry');

    // A full chain: Plane webhook → dispatch → worktree → task → meeting, linked by causation.
    const chain = await waitFor('a correlation chain five events deep', 45_000, async () => {
      const page = await getJson<{ items: { correlation_id: string }[] }>(
        `${stack.store.url}/events?type=meeting.converged&limit=5`,
      );
      for (const e of page.items) {
        const group = await getJson<{ roots: ChainNode[]; count: number }>(
          `${stack.store.url}/correlations/${e.correlation_id}`,
        );
        const deepest = Math.max(...group.roots.map(depth));
        if (deepest >= 5) return group;
      }
      return undefined;
    });
    const root = chain.roots.find((r) => depth(r) >= 5)!;
    assert.equal(root.event?.event_type, 'webhook.plane.issue.updated');
    assert.equal(root.children[0]?.event?.event_type, 'infra.dispatch.completed');

    // The occasional failing handler ends in the dead letters, which the monitor reports.
    await waitFor('a bloodbank.message.dlq event in the store', 60_000, async () => {
      const page = await getJson<{ items: unknown[] }>(
        `${stack.store.url}/events?type=bloodbank.message.dlq&limit=1`,
      );
      return page.items.length > 0 ? true : undefined;
    });
    // Some tickets are not ready and are skipped with a reason.
    await waitFor('a skipped dispatch', 30_000, async () => {
      const page = await getJson<{ items: unknown[] }>(
        `${stack.store.url}/events?type=infra.dispatch.skipped&limit=1`,
      );
      return page.items.length > 0 ? true : undefined;
    });
    assert.equal(stack.demo?.stats.errors, 0, 'the demo traffic never failed to publish');
  } finally {
    await stack.close();
  }
  // Closed means closed: nothing listens any more.
  await assert.rejects(fetch(`${stack.gateway.url}/health`));
  await assert.rejects(fetch(`${stack.store.url}/health`));
}

describe('all-in-one stack with demo traffic', { timeout: 240_000 }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'stack-test-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));
  const baseEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, LOG_LEVEL: 'silent', STACK_DATA_DIR: dataDir };

  it('runs on the embedded broker and database', { timeout: 120_000 }, async () => {
    // inMemory: the embedded broker keeps its queues in memory too.
    await exerciseStack(baseEnv, { broker: 'embedded', brokerStorage: 'memory', database: 'embedded' });
  });

  it('with AUTH_TOKENS: a read token reads, anonymous callers get 401, and the demo still runs', {
    timeout: 120_000,
  }, async () => {
    const read = randomBytes(16).toString('hex');
    const publish = randomBytes(16).toString('hex');
    const stack = await startStack({
      demo: true,
      inMemory: true,
      env: { ...baseEnv, AUTH_TOKENS: `${read}=ops:read,${publish}=theboard:publish` },
      ports: ANY_PORT,
      demoTicketIntervalSeconds: 0.2,
    });
    const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
    try {
      assert.equal(stack.auth, true);
      assert.deepEqual([...new Set(boundAddresses(stack))], ['127.0.0.1']);
      const store = stack.store.url;

      const anonymous = await fetch(`${store}/events?limit=1`);
      assert.equal(anonymous.status, 401);
      assert.match(String(anonymous.headers.get('www-authenticate')), /^Bearer/);
      assert.equal((await fetch(`${store}/events?limit=1`, { headers: bearer(read) })).status, 200);
      assert.equal((await fetch(`${store}/events?limit=1`, { headers: bearer(publish) })).status, 403);
      const post = (headers: Record<string, string>) =>
        fetch(`${stack.gateway.url}/publish`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify({ event_type: 'test.event.created', payload: { message: 'x' } }),
        });
      assert.equal((await post({})).status, 401);
      assert.equal((await post(bearer(read))).status, 403);

      // What the dashboard's probes (and a load balancer) see: the status alone, no token needed.
      // (The dispatcher may say `degraded` for a moment: a dispatch not yet written to its state
      // file counts against it, and the demo dispatches several tickets a second here.)
      for (const part of stack.parts) {
        if (part.url === '-') continue;
        const health = await fetch(`${part.url}/health`);
        const body = (await health.json()) as { status: string };
        assert.deepEqual(Object.keys(body), ['status'], part.name);
        assert.equal(health.status, body.status === 'ok' ? 200 : 503, part.name);
        if (!part.name.startsWith('dispatcher')) assert.equal(body.status, 'ok', part.name);
      }
      // The dashboard passes a caller's token on to the store.
      assert.equal((await fetch(`${stack.dashboard.url}/api/store/events?limit=1`)).status, 401);
      const viaDashboard = await fetch(`${stack.dashboard.url}/api/store/events?limit=1`, {
        headers: bearer(read),
      });
      assert.equal(viaDashboard.status, 200);

      // The demo's own clients keep working: the dispatcher, the bus services, and the smoke
      // test that publishes through the gateway with the token minted for it.
      await waitFor('a correlation chain five events deep', 45_000, async () => {
        const page = await getJson<{ items: { correlation_id: string }[] }>(
          `${store}/events?type=meeting.converged&limit=5`,
          read,
        );
        for (const e of page.items) {
          const group = await getJson<{ roots: ChainNode[] }>(
            `${store}/correlations/${e.correlation_id}`,
            read,
          );
          if (Math.max(...group.roots.map(depth)) >= 5) return group;
        }
        return undefined;
      });
      const smoke = await waitFor('the smoke test, published through the gateway', 30_000, async () => {
        const page = await getJson<{ items: { source: { app: string } }[] }>(
          `${store}/events?type=test.event.created&limit=1`,
          read,
        );
        return page.items[0];
      });
      assert.equal(smoke.source.app, 'smoke-tester');
      assert.equal(stack.demo?.stats.errors, 0, 'the demo traffic never failed to publish');
    } finally {
      await stack.close();
    }
  });

  it('runs on RabbitMQ and PostgreSQL', { timeout: 120_000 }, async () => {
    const id = randomBytes(4).toString('hex');
    const adminUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
    const amqpUrl = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
    const dbName = `stack_test_${id}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    const dbUrl = new URL(adminUrl);
    dbUrl.pathname = `/${dbName}`;
    const exchange = `test.${id}.events`;
    const dlx = `test.${id}.dlx`;
    try {
      await exerciseStack(
        {
          ...baseEnv,
          AMQP_URL: amqpUrl,
          DATABASE_URL: dbUrl.toString(),
          BLOODBANK_EXCHANGE: exchange,
          BLOODBANK_DLX: dlx,
          CANDYSTORE_QUEUE: `test.${id}.candystore`,
          INFRA_DISPATCH_QUEUE: `test.${id}.dispatcher`,
        },
        { broker: 'rabbitmq', brokerStorage: null, database: 'postgresql' },
      );
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await admin.end();
      // The demo's example services use their registry queue names; remove them and what this run declared.
      const t = await createTransport({ url: amqpUrl });
      const queues = [
        'agent_runner.dispatches',
        'theboard.tasks',
        'worktree_manager.events',
        'smoke_tester.events',
        `test.${id}.candystore`,
        `test.${id}.dispatcher`,
        `${dlx}.monitor`,
        `${exchange}.unroutable`,
      ];
      for (const q of queues) {
        for (const name of [q, `${q}.dlq`, ...DEFAULT_RETRY_TIERS_MS.map((tier) => retryQueueName(q, tier))])
          await t.deleteQueue(name).catch(() => {});
      }
      for (const x of [exchange, dlx, `${exchange}.unroutable`]) await t.deleteExchange(x).catch(() => {});
      await t.close();
    }
  });
});
