import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { npmStart, untilUp } from '../../packages/all-in-one/test/npm-start.js';
import { waitFor } from './support.js';

// `npm start` in embedded mode (durable broker, PGlite) killed with SIGKILL under load, then
// started again on the same data directory: every event it answered 202 for is stored, once.

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
  it('stores every event answered 202 exactly once, three kills in a row under 64 publishers', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'kill-test-'));
    dirs.push(dataDir);
    const accepted = new Set<string>();
    for (let round = 0; round < 3; round++) {
      const run = start(dataDir);
      await untilUp(run);
      const before = accepted.size;
      let stop = false;
      const publishing = load(urlOf(run, 'gateway \\(Bloodbank\\)'), accepted, () => stop);
      await waitFor('2,000 more events accepted', 120_000, () => accepted.size >= before + 2_000, 100);
      await kill(run); // while the publishers are still at it
      stop = true;
      await publishing;
    }
    const last = start(dataDir);
    await untilUp(last);
    try {
      await assertStoredOnce(urlOf(last, 'store \\(Candystore\\)'), accepted);
    } finally {
      await kill(last);
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
