import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { waitFor } from '../../src/testkit/index.js';
import { LmdbJournal } from '../../src/transport/embedded/lmdb-journal.js';
import { createEmbeddedTransport, type Delivery, openEmbeddedBroker } from '../../src/transport/index.js';

// Compaction at open of the durable embedded broker's journal: a drained backlog gives its
// pages back to the file system, the contents stay exactly as they were, a copy left by a crash
// is never used, and a SIGKILL at any moment of the compaction loses nothing.
const root = mkdtempSync(join(tmpdir(), 'bloodbank-compaction-'));
after(() => rmSync(root, { recursive: true, force: true }));

const SMALL = { minFileBytes: 1024 * 1024, maxLiveRatio: 0.25 };
const BODY = Buffer.alloc(1_000, 'x');
let dirs = 0;
const newDir = () => join(root, `d${dirs++}`);
const journalFile = (dir: string) => join(dir, 'journal.mdb');

/**
 * Fills a durable broker through its transport: `total` messages on `work` (with properties),
 * 20 on `ttl` (a queue with a message TTL), then acks all but the last `kept` of `work` and
 * takes `held` of those without acking them (they come back marked redelivered).
 */
async function fill(dir: string, total: number, kept: number, held: number): Promise<void> {
  const broker = await openEmbeddedBroker({ storage: 'durable', dataDir: dir, compaction: false });
  const t = createEmbeddedTransport({ broker });
  await t.assertExchange('events', 'topic', { durable: true });
  await t.assertExchange('dlx', 'fanout', { durable: true });
  await t.assertQueue('work', { durable: true, deadLetterExchange: 'dlx' });
  await t.assertQueue('ttl', { durable: true, messageTtlMs: 3_600_000 });
  await t.bindQueue('work', 'events', 'w.#');
  await t.bindQueue('ttl', 'events', 'ttl.#');
  for (let start = 0; start < total; start += 500) {
    const batch = [];
    for (let i = start; i < Math.min(total, start + 500); i++) {
      batch.push(
        t.publish({
          exchange: 'events',
          routingKey: `w.${i}`,
          body: Buffer.concat([Buffer.from(`${i}:`), BODY]),
          properties: { persistent: true, messageId: `m${i}`, contentType: 'text/plain', headers: { i } },
        }),
      );
    }
    await Promise.all(batch);
  }
  for (let i = 0; i < 20; i++) {
    await t.publish({
      exchange: 'events',
      routingKey: 'ttl.x',
      body: Buffer.from(`ttl ${i}`),
      properties: { persistent: true, expiration: '3000000' },
    });
  }
  for (let i = 0; i < total - kept; i++) {
    const d = await t.get('work');
    assert.ok(d, `message ${i}`);
    d.ack();
  }
  for (let i = 0; i < held; i++) assert.ok(await t.get('work'));
  await t.close({ drainTimeoutMs: 0 });
  await broker.close();
}

/** Everything the journal holds, as the broker would read it back. */
async function contents(dir: string) {
  const journal = await LmdbJournal.open(dir, { compaction: false });
  try {
    const c = journal.read();
    const messages = Object.fromEntries(c.queues.map((q) => [q.name, [...c.messagesOf(q.name)]]));
    return { exchanges: c.exchanges, queues: c.queues, bindings: c.bindings, messages };
  } finally {
    await journal.close();
  }
}

describe('durable embedded broker: journal compaction at open', () => {
  it('compacts a large, mostly free journal and keeps every message, mark, property and binding', {
    timeout: 120_000,
  }, async (t) => {
    const dir = newDir();
    await fill(dir, 3_000, 150, 20);
    const expected = await contents(dir);
    assert.equal(expected.messages.work?.length, 150);
    assert.equal(expected.messages.work?.filter((m) => m.delivered).length, 20);
    assert.equal(expected.messages.ttl?.length, 20);
    assert.ok(expected.messages.ttl?.every((m) => m.expiresAt !== undefined));
    const before = statSync(journalFile(dir)).size;

    const journal = await LmdbJournal.open(dir, { compaction: SMALL });
    const after = statSync(journalFile(dir)).size;
    t.diagnostic(
      `journal file: ${before} bytes before, ${after} after (${journal.compaction?.durationMs} ms)`,
    );
    assert.deepEqual(
      journal.compaction && { before: journal.compaction.before, after: journal.compaction.after },
      {
        before,
        after,
      },
    );
    assert.equal(journal.compaction?.error, undefined);
    assert.ok(after * 8 < before, `${after} bytes is not an eighth of ${before}`);
    assert.ok(!existsSync(`${journalFile(dir)}.compact`));
    await journal.close();
    assert.deepEqual(await contents(dir), expected, 'the same contents, read straight from the journal');

    // And through the broker: order, properties, redelivered marks and topology.
    const broker = await openEmbeddedBroker({ storage: 'durable', dataDir: dir, compaction: SMALL });
    assert.equal(broker.journal?.compaction, undefined, 'nothing left to compact');
    const tr = createEmbeddedTransport({ broker });
    try {
      assert.ok(await tr.checkExchange('events'));
      assert.ok(await tr.checkExchange('dlx'));
      assert.deepEqual(
        (await tr.listBindings('work')).map((b) => [b.exchange, b.pattern]),
        [['events', 'w.#']],
      );
      assert.equal((await tr.checkQueue('ttl'))?.messageCount, 20);
      const got: Delivery[] = [];
      await tr.consume(
        'work',
        (d) => {
          got.push(d);
          d.ack();
        },
        { prefetch: 100 },
      );
      await waitFor(() => got.length === 150, 'the 150 kept messages');
      got.forEach((d, n) => {
        const i = 2_850 + n;
        assert.equal(d.body.toString().split(':')[0], String(i));
        assert.equal(d.routingKey, `w.${i}`);
        assert.equal(d.exchange, 'events');
        assert.deepEqual(d.properties.headers, { i });
        assert.equal(d.properties.messageId, `m${i}`);
        assert.equal(d.properties.contentType, 'text/plain');
        assert.equal(d.redelivered, n < 20, `message ${i} redelivered`);
      });
    } finally {
      await tr.close({ drainTimeoutMs: 0 });
      await broker.close();
    }
  });

  it('ignores and removes a journal.mdb.compact left by a crash mid-copy', { timeout: 120_000 }, async () => {
    const dir = newDir();
    await fill(dir, 2_000, 50, 10);
    const expected = await contents(dir);
    const stale = `${journalFile(dir)}.compact`;
    // What a kill during the copy leaves: the start of a journal file.
    writeFileSync(stale, readFileSync(journalFile(dir)).subarray(0, 256 * 1024));

    const broker = await openEmbeddedBroker({ storage: 'durable', dataDir: dir, compaction: SMALL });
    const compaction = broker.journal?.compaction;
    await broker.close();
    assert.ok(compaction && !compaction.error && compaction.after * 4 < compaction.before, 'compacted');
    assert.ok(!existsSync(stale));
    assert.deepEqual(await contents(dir), expected);

    // Also when there is nothing to compact.
    writeFileSync(stale, 'not a journal');
    const again = await openEmbeddedBroker({ storage: 'durable', dataDir: dir, compaction: SMALL });
    assert.equal(again.journal?.compaction, undefined);
    await again.close();
    assert.ok(!existsSync(stale));
    assert.deepEqual(await contents(dir), expected);
  });

  it('leaves a journal below the size threshold, or mostly in use, as it is', {
    timeout: 120_000,
  }, async () => {
    const small = newDir();
    await fill(small, 200, 10, 0);
    const large = newDir();
    await fill(large, 2_000, 1_500, 0);
    assert.ok(statSync(journalFile(small)).size < SMALL.minFileBytes, 'a small journal');
    assert.ok(statSync(journalFile(large)).size > SMALL.minFileBytes, 'a large journal');
    for (const [dir, options] of [
      [small, SMALL],
      [small, {}],
      [large, SMALL],
    ] as const) {
      const before = statSync(journalFile(dir));
      const broker = await openEmbeddedBroker({ storage: 'durable', dataDir: dir, compaction: options });
      const after = statSync(journalFile(dir));
      await broker.close();
      assert.equal(broker.journal?.compaction, undefined);
      assert.equal(after.ino, before.ino, 'the same file');
      assert.equal(after.mtimeMs, before.mtimeMs, 'not rewritten');
      assert.equal(after.size, before.size);
    }
  });

  it('loses nothing when killed (SIGKILL) at any moment of a compaction', { timeout: 300_000 }, async (t) => {
    // One large, mostly free journal, written straight through the journal, copied for each kill.
    const template = newDir();
    const journal = await LmdbJournal.open(template, { compaction: false });
    journal.saveExchange({ name: 'events', type: 'topic', internal: false, alternateExchange: undefined });
    journal.saveQueue('work', { durable: true });
    journal.saveBinding({ queue: 'work', exchange: 'events', pattern: '#' });
    const total = 60_000;
    for (let start = 0; start < total; start += 1_000) {
      const batch = [];
      for (let seq = start; seq < start + 1_000; seq++) {
        batch.push(
          journal.putMessage('work', {
            seq,
            body: Buffer.concat([Buffer.from(`${seq}:`), BODY]),
            exchange: 'events',
            routingKey: 'w',
            properties: { persistent: true, headers: { seq } },
            expiresAt: undefined,
          }),
        );
      }
      await Promise.all(batch);
    }
    // Keep one in ten, marks on some of them.
    for (let seq = 0; seq < total; seq++) if (seq % 10 !== 0) journal.removeMessage('work', seq);
    for (let seq = 0; seq < 1_000; seq += 10) await journal.markDelivered('work', seq);
    await journal.close();
    const expected = await contents(template);
    assert.equal(expected.messages.work?.length, total / 10);
    const size = statSync(journalFile(template)).size;

    const outcomes: string[] = [];
    for (const delayMs of [0, 5, 10, 20, 30, 45, 60, 80, 100, 120, 150, 250]) {
      const dir = newDir();
      mkdirSync(dir);
      copyFileSync(journalFile(template), journalFile(dir));
      const child = spawn(
        process.execPath,
        [
          ...process.execArgv,
          '--input-type=module',
          '-e',
          `import { openEmbeddedBroker } from ${JSON.stringify(join(import.meta.dirname, '..', '..', 'src', 'transport', 'index.ts'))};
           process.stdout.write('START\\n');
           await openEmbeddedBroker({ storage: 'durable', dataDir: ${JSON.stringify(dir)}, compaction: ${JSON.stringify(SMALL)} });
           process.stdout.write('OPEN\\n');
           setInterval(() => {}, 1_000);`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let seen = '';
      child.stdout.on('data', (c: Buffer) => {
        seen += c.toString();
      });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      await waitFor(() => seen.includes('START') || child.exitCode !== null, 'the child to start', 60_000);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      child.kill('SIGKILL');
      await exited;

      const file = statSync(journalFile(dir)).size;
      const copyLeft = existsSync(`${journalFile(dir)}.compact`);
      outcomes.push(
        `${delayMs} ms: ${seen.includes('OPEN') ? 'opened' : 'killed while opening'}, journal ${file === size ? 'old' : 'compacted'}${copyLeft ? ', copy left' : ''}`,
      );
      assert.ok(
        file === size || file * 4 < size,
        `the journal is the old one or the compacted one (${file} bytes)`,
      );
      assert.deepEqual(await contents(dir), expected, `after a kill ${delayMs} ms into the open`);
      assert.ok(!existsSync(`${journalFile(dir)}.compact`), 'a copy left is removed at the next open');
      rmSync(dir, { recursive: true, force: true });
    }
    t.diagnostic(outcomes.join('; '));
  });
});
