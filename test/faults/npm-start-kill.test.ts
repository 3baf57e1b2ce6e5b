import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { npmStart, untilUp } from '../../packages/all-in-one/test/npm-start.js';
import { readyPlaneTicket, waitFor } from './support.js';

// `npm start` in embedded mode (durable broker, PGlite) killed with SIGKILL under load, then
// started again on the same data directory: every event it answered 202 for is stored, once,
// and every dead letter it held before a kill is still there after it. The dead letters are
// the dispatcher's: a ready Plane ticket whose dispatch a stand-in OpenClaw refuses with 400.

const PLANE_SECRET = 'kill-test-plane-secret';
const DISPATCH_QUEUE = 'infra_dispatcher.plane';

/** An OpenClaw stand-in that refuses every dispatch (a final 4xx: dead-lettered at once). */
async function refusingOpenClaw(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () =>
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"refused by the test"}'),
    );
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/agent`, server };
}

/** The event ids of the dispatcher's dead letters, as the gateway lists them. */
async function deadLetterIds(gateway: string): Promise<Set<string>> {
  const res = await fetch(`${gateway}/dead-letters/${DISPATCH_QUEUE}?limit=500`);
  if (res.status !== 200) return new Set();
  const page = (await res.json()) as { items: { event_id: string | null }[] };
  return new Set(page.items.map((i) => i.event_id ?? ''));
}

/** Sends one signed ready ticket and waits until its event is a dead letter; returns its id. */
async function deadLetterOne(gateway: string): Promise<string> {
  const raw = readyPlaneTicket(randomUUID(), 'Kill-test ticket');
  const res = await fetch(`${gateway}/webhooks/plane`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-plane-delivery': randomUUID(),
      'x-plane-signature': createHmac('sha256', PLANE_SECRET).update(raw).digest('hex'),
    },
    body: raw,
  });
  const body = (await res.json()) as { event_id?: string; event_ids?: string[] };
  assert.equal(res.status, 202, JSON.stringify(body));
  const id = body.event_id ?? body.event_ids?.[0];
  assert.ok(id, `the webhook's event id: ${JSON.stringify(body)}`);
  await waitFor(`dead letter ${id}`, 60_000, async () => (await deadLetterIds(gateway)).has(id), 200);
  return id;
}

type Run = ReturnType<typeof npmStart>;
const runs: Run[] = [];
const dirs: string[] = [];
after(() => {
  for (const { child } of runs) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {} // already gone
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function start(dataDir: string, extra: NodeJS.ProcessEnv = {}): Run {
  const run = npmStart(
    {
      LOG_LEVEL: 'warn',
      STACK_DATA_DIR: dataDir,
      BLOODBANK_PORT: '0',
      CANDYSTORE_PORT: '0',
      CANDYBAR_PORT: '0',
      INFRA_DISPATCHER_PORT: '0',
      ...extra,
    },
    true, // its own process group: the kill takes every process npm started
  );
  runs.push(run);
  return run;
}

const urlOf = (run: Run, part: string) => {
  const m = new RegExp(`${part}\\s+(http://\\S+)`).exec(run.io.out);
  assert.ok(m, `the banner names the ${part}: ${run.io.out}`);
  return m[1]!;
};

async function kill(run: Run): Promise<void> {
  process.kill(-run.child.pid!, 'SIGKILL');
  await run.closed;
}

/** 64 clients POSTing events with their own ids; `accepted` holds every id answered 202. */
function load(gateway: string, accepted: Set<string>, until: () => boolean): Promise<void> {
  const client = async () => {
    while (!until()) {
      const id = randomUUID();
      try {
        const res = await fetch(`${gateway}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ event_id: id, event_type: 'test.event.created', payload: { message: id } }),
        });
        await res.arrayBuffer();
        if (res.status === 202) accepted.add(id);
      } catch {
        return; // the process is gone
      }
    }
  };
  return Promise.all(Array.from({ length: 64 }, client)).then(() => undefined);
}

/** Every stored `test.event.created` id, with how often it is stored. */
async function storedIds(store: string): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  let cursor: string | null = null;
  do {
    const q = new URLSearchParams({ type: 'test.event.created', limit: '1000', order: 'asc' });
    if (cursor) q.set('cursor', cursor);
    const res = await fetch(`${store}/events?${q}`);
    assert.equal(res.status, 200);
    const page = (await res.json()) as { items: { event_id: string }[]; next_cursor: string | null };
    for (const e of page.items) seen.set(e.event_id, (seen.get(e.event_id) ?? 0) + 1);
    cursor = page.next_cursor;
  } while (cursor);
  return seen;
}

async function assertStoredOnce(store: string, accepted: Set<string>): Promise<void> {
  let stored = new Map<string, number>();
  await waitFor(
    'every accepted event in the store',
    180_000,
    async () => {
      stored = await storedIds(store);
      return [...accepted].every((id) => stored.has(id));
    },
    500,
  ).catch(() => {});
  const missing = [...accepted].filter((id) => !stored.has(id));
  assert.deepEqual(
    missing.slice(0, 5),
    [],
    `${missing.length} of ${accepted.size} events answered 202 are not stored`,
  );
  const twice = [...stored].filter(([, n]) => n > 1);
  assert.deepEqual(twice.slice(0, 5), [], `${twice.length} events stored more than once`);
}

describe('npm start killed with SIGKILL', { timeout: 1_200_000 }, () => {
  it('stores every event answered 202 exactly once and keeps every dead letter, three kills in a row under 64 publishers', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'kill-test-'));
    dirs.push(dataDir);
    const openclaw = await refusingOpenClaw();
    const env = {
      OPENCLAW_HOOK_TOKEN: 'kill-test-token',
      OPENCLAW_HOOK_URL: openclaw.url,
      PLANE_WEBHOOK_SECRET: PLANE_SECRET,
      INFRA_RUN_CHECKS: 'false',
    };
    const accepted = new Set<string>();
    const deadLetters: string[] = [];
    try {
      for (let round = 0; round < 3; round++) {
        const run = start(dataDir, env);
        await untilUp(run);
        const gateway = urlOf(run, 'gateway \\(Bloodbank\\)');
        // Every dead letter held before the last kill is still listed after the restart.
        const kept = await deadLetterIds(gateway);
        assert.deepEqual(
          deadLetters.filter((id) => !kept.has(id)),
          [],
          `dead letters lost by kill ${round}`,
        );
        deadLetters.push(await deadLetterOne(gateway));
        const before = accepted.size;
        let stop = false;
        const publishing = load(gateway, accepted, () => stop);
        await waitFor('2,000 more events accepted', 120_000, () => accepted.size >= before + 2_000, 100);
        await kill(run); // while the publishers are still at it
        stop = true;
        await publishing;
      }
      const last = start(dataDir, env);
      await untilUp(last);
      try {
        const kept = await deadLetterIds(urlOf(last, 'gateway \\(Bloodbank\\)'));
        assert.deepEqual(
          deadLetters.filter((id) => !kept.has(id)),
          [],
          'dead letters lost by kill 3',
        );
        assert.equal(deadLetters.length, 3);
        await assertStoredOnce(urlOf(last, 'store \\(Candystore\\)'), accepted);
      } finally {
        await kill(last);
      }
    } finally {
      openclaw.server.closeAllConnections();
      openclaw.server.close();
    }
  });

  it('keeps 20,000 events queued in the broker (the store paused) through a SIGKILL', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'kill-backlog-test-'));
    dirs.push(dataDir);
    const accepted = new Set<string>();
    const paused = start(dataDir, { CANDYSTORE_INGEST_PAUSED: 'true' });
    await untilUp(paused);
    const store = urlOf(paused, 'store \\(Candystore\\)');
    let stop = false;
    const publishing = load(
      urlOf(paused, 'gateway \\(Bloodbank\\)'),
      accepted,
      () => stop || accepted.size >= 20_000,
    );
    await publishing;
    const health = (await (await fetch(`${store}/health`)).json()) as { ingest?: { paused?: boolean } };
    assert.equal(health.ingest?.paused, true, JSON.stringify(health));
    assert.ok(accepted.size >= 20_000);
    await kill(paused);
    stop = true;

    const resumed = start(dataDir);
    await untilUp(resumed);
    try {
      await assertStoredOnce(urlOf(resumed, 'store \\(Candystore\\)'), accepted);
    } finally {
      await kill(resumed);
    }
  });
});
