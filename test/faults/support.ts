import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { DEFAULT_RETRY_TIERS_MS, dlqName, retryQueueName } from '@33god/bloodbank';
import amqp from 'amqplib';

/**
 * What the fault tests share: names, a fresh database, polling, broker cleanup and the
 * problem+json checks. Every test uses random exchange, queue and database names and
 * removes what it declared.
 */

// The test servers, random names and a fresh database are Candystore's test helpers.
import { TEST_AMQP_URL } from '../../packages/candystore/test/helpers.js';

export {
  freshDatabase,
  rid,
  TEST_AMQP_URL,
  TEST_DATABASE_URL,
} from '../../packages/candystore/test/helpers.js';

/** Polls until `probe` gives something other than undefined/false, or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (${String(last)})` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A port that was free a moment ago (child processes cannot report port 0 back without parsing). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Deletes queues and exchanges this test declared on RabbitMQ, and what the parts under test
 * declared beside them by themselves: each queue's dead-letter queue and retry-delay queues
 * (the default tiers), each exchange's alternate exchange and queue (`<name>.unroutable`) and
 * dead-letter monitor queue (`<name>.monitor`). Missing ones are fine. Waits up to 30 s for
 * the broker, which another test may be restarting.
 */
export async function deleteFromRabbit(
  queuesDeclared: readonly string[],
  exchangesDeclared: readonly string[],
): Promise<void> {
  const queues = new Set<string>();
  for (const q of queuesDeclared) {
    queues.add(q);
    queues.add(dlqName(q));
    for (const tier of DEFAULT_RETRY_TIERS_MS) queues.add(retryQueueName(q, tier));
  }
  const exchanges = new Set<string>();
  for (const x of exchangesDeclared) {
    exchanges.add(x);
    exchanges.add(`${x}.unroutable`);
    queues.add(`${x}.unroutable`);
    queues.add(`${x}.monitor`);
  }
  const conn = await waitFor(
    'RabbitMQ to accept a connection for the cleanup',
    30_000,
    () => amqp.connect(TEST_AMQP_URL),
    500,
  );
  try {
    for (const q of queues) {
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      await ch.deleteQueue(q).catch(() => {});
      await ch.close().catch(() => {});
    }
    for (const x of exchanges) {
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      await ch.deleteExchange(x).catch(() => {});
      await ch.close().catch(() => {});
    }
  } finally {
    await conn.close().catch(() => {});
  }
}

/** Something in a body that only a stack trace or a leaked source path would contain. */
export function leak(body: string): string | null {
  const patterns: [RegExp, string][] = [
    // A V8 frame: "at fn (where:1:2)" or "at where:1:2", where a path, a URL or node:, never
    // any words before a line:column (a refusal may quote "at most 64" beside an echoed
    // "T99:99:99Z" from the request).
    [
      /\bat (?:(?:async |new )?[\w$.<>[\] ]+ \()?(?:file:\/\/|node:|\/|[A-Za-z]:\\|<anonymous>)[^\s()"]*:\d+:\d+/,
      'a stack frame',
    ],
    [/(?:\/work\/|\/home\/|\/usr\/|\/tmp\/|node_modules|[A-Za-z]:\\)/, 'a file path'],
    [/\.(?:ts|js|mjs|cjs):\d+/, 'a source location'],
  ];
  for (const [re, what] of patterns) {
    const m = re.exec(body);
    if (m) return `${what}: ${JSON.stringify(m[0].slice(0, 120))}`;
  }
  return null;
}

/** Why a 4xx answer is not a proper problem document, or null when it is one. */
export function problemDefect(status: number, contentType: string | undefined, body: string): string | null {
  if (!(contentType ?? '').toLowerCase().startsWith('application/problem+json')) {
    return `content-type is ${JSON.stringify(contentType)}, not application/problem+json`;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    return 'the body is not JSON';
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return 'the body is not a JSON object';
  const d = doc as Record<string, unknown>;
  for (const k of ['type', 'title', 'code'] as const) {
    if (typeof d[k] !== 'string' || d[k] === '') return `member '${k}' is missing or not a string`;
  }
  if (d.status !== status) return `member 'status' is ${JSON.stringify(d.status)}, the answer was ${status}`;
  return null;
}

/**
 * The body of a Plane `issue updated` webhook for a ticket the dispatcher takes (labels
 * `ready`, `automation:go`, `comp:bloodbank`), as raw JSON text: sign these bytes.
 */
export function readyPlaneTicket(issueId: string, title = 'Test ticket'): string {
  const label = (name: string) => ({ id: randomUUID(), name, color: '#aabbcc' });
  return JSON.stringify({
    event: 'issue',
    action: 'updated',
    webhook_id: randomUUID(),
    workspace_id: randomUUID(),
    data: {
      id: issueId,
      name: `${title} ${issueId.slice(0, 8)}`,
      sequence_id: 1,
      project: randomUUID(),
      project_detail: { id: randomUUID(), identifier: 'INFRA', name: 'Infra' },
      state: { id: randomUUID(), name: 'Todo', group: 'unstarted', color: '#3a3a3a' },
      labels: ['ready', 'automation:go', 'comp:bloodbank'].map(label),
      priority: 'medium',
      updated_at: new Date().toISOString(),
    },
  });
}

/**
 * The promise of the fault suites, asserted: every event answered 202 stored exactly once and
 * delivered to the verification queue, every ready ticket dispatched. Each list is what broke
 * it (the first ten are shown).
 */
export function assertNothingLost(o: {
  missingInStore: readonly string[];
  storedTwice: readonly unknown[];
  stored: ReadonlyMap<string, number>;
  missingDelivered: readonly string[];
  notDispatched: readonly string[];
}): void {
  assert.deepEqual(
    o.missingInStore.slice(0, 10),
    [],
    `${o.missingInStore.length} events answered 202 are not stored`,
  );
  assert.deepEqual(o.storedTwice.slice(0, 10), [], 'events stored more than once');
  for (const [eid, n] of o.stored) assert.equal(n, 1, `${eid} stored ${n} times`);
  assert.deepEqual(
    o.missingDelivered.slice(0, 10),
    [],
    `${o.missingDelivered.length} events answered 202 never reached the verification queue`,
  );
  assert.deepEqual(
    o.notDispatched.slice(0, 10),
    [],
    `${o.notDispatched.length} ready tickets never dispatched`,
  );
}
