import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startStack } from '@33god/all-in-one';
import { createTransport } from '@33god/bloodbank';
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

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return (await res.json()) as T;
}

async function exerciseStack(env: NodeJS.ProcessEnv, expect: { broker: string; database: string }) {
  const stack = await startStack({
    demo: true,
    inMemory: true,
    env,
    ports: { gateway: 0, store: 0, dashboard: 0, dispatcher: 0 },
    host: '127.0.0.1',
    demoTicketIntervalSeconds: 0.2,
  });
  try {
    assert.deepEqual(stack.mode, expect);
    assert.ok(stack.dispatcher, 'the demo starts the dispatcher (against the demo sink)');
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
    await exerciseStack(baseEnv, { broker: 'embedded', database: 'embedded' });
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
        { broker: 'rabbitmq', database: 'postgresql' },
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
        for (const name of [q, `${q}.dlq`]) await t.deleteQueue(name).catch(() => {});
      }
      for (const x of [exchange, dlx, `${exchange}.unroutable`]) await t.deleteExchange(x).catch(() => {});
      await t.close();
    }
  });
});
