// Listing and showing dead letters read the queue a page at a time, on every backend: a
// request reads only as deep as its page and keeps only the page (or the match).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AppError, type ErrorCode } from '@33god/core';
import { createDeadLetterOperations, MAX_SCAN } from '../../src/dead-letters/operations.js';
import { dlqName } from '../../src/topology/names.js';
import type { Delivery, Transport } from '../../src/transport/transport.js';
import { backends, TestNames } from '../sdk/backends.js';

const T = { timeout: 30_000 };

/** One call to the transport's read: how deep it was allowed to go and how far it went. */
interface ReadCall {
  method: 'peek' | 'browse';
  max: number;
  visited: number;
}

/** The transport, recording every peek and browse the operations make. */
function watched(transport: Transport): { transport: Transport; calls: ReadCall[] } {
  const calls: ReadCall[] = [];
  const t = new Proxy(transport, {
    get(target, prop) {
      if (prop === 'peek') {
        return async (queue: string, limit: number) => {
          const out = await target.peek(queue, limit);
          calls.push({ method: 'peek', max: limit, visited: out.length });
          return out;
        };
      }
      if (prop === 'browse') {
        return async (queue: string, max: number, visit: (d: Delivery) => boolean) => {
          const call: ReadCall = { method: 'browse', max, visited: 0 };
          calls.push(call);
          return target.browse(queue, max, (d) => {
            call.visited++;
            return visit(d);
          });
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { transport: t, calls };
}

const rejectsWith = async (p: Promise<unknown>, code: ErrorCode, detail?: RegExp) =>
  assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof AppError, String(e));
    assert.equal(e.code, code);
    if (detail) assert.match(e.detail ?? '', detail);
    return true;
  });

for (const backend of backends()) {
  describe(`dead-letter paging on ${backend.name}`, () => {
    test(
      'a queue deeper than a page: pages with a cursor, each read only as deep as its page',
      T,
      async () => {
        const names = new TestNames();
        const raw = await backend.transport();
        const { transport, calls } = watched(raw);
        try {
          const q = names.queue('paged');
          const dlq = dlqName(q);
          await raw.assertQueue(dlq, { durable: false });
          const ids = Array.from({ length: 25 }, (_, i) => `letter-${String(i).padStart(2, '0')}`);
          for (const id of ids) {
            await raw.publish({
              exchange: '',
              routingKey: dlq,
              body: Buffer.from(JSON.stringify({ n: id })),
              properties: { messageId: id },
            });
          }
          const ops = createDeadLetterOperations(transport);

          const listed: string[] = [];
          const cursors: string[] = [];
          let cursor: string | undefined;
          for (let n = 0; ; n++) {
            calls.length = 0;
            const page = await ops.listPage(q, { limit: 10, ...(cursor ? { cursor } : {}) });
            assert.equal(page.count, 25);
            assert.ok(page.items.length <= 10);
            listed.push(...page.items.map((l) => l.id));
            // one read a page, as deep as the page ends plus one (to tell whether more follow),
            // and never through peek, which would hold everything it read
            assert.deepEqual(
              calls.map((c) => c.method),
              ['browse'],
            );
            assert.equal(calls[0]!.max, (n + 1) * 10 + 1);
            assert.ok(calls[0]!.visited <= (n + 1) * 10 + 1, `page ${n} read ${calls[0]!.visited}`);
            if (n === 0) assert.equal(calls[0]!.visited, 11, 'the first page did not read the whole queue');
            if (!page.nextCursor) break;
            cursors.push(page.nextCursor);
            cursor = page.nextCursor;
          }
          assert.deepEqual(listed, ids, 'every dead letter once, oldest first');
          assert.equal(cursors.length, 2, 'pages of 10, 10 and 5');
          assert.equal(calls[0]!.visited, 25, 'the last page read to the end of the queue, no further');
          assert.deepEqual(
            (await ops.list(q, 3)).map((l) => l.id),
            ids.slice(0, 3),
            'list is the first page',
          );

          // dead letters ahead of the cursor leave: the next page still starts right after its anchor
          await ops.purge(q, [ids[0]!, ids[3]!]);
          const second = await ops.listPage(q, { limit: 10, cursor: cursors[0]! });
          assert.deepEqual(
            second.items.map((l) => l.id),
            ids.slice(10, 20),
          );
          // the anchor itself leaves: the cursor says so instead of guessing
          await ops.purge(q, [ids[9]!]);
          await rejectsWith(
            ops.listPage(q, { limit: 10, cursor: cursors[0]! }),
            'INVALID_CURSOR',
            /has left/,
          );

          // show reads up to the match, keeping only it
          calls.length = 0;
          const shown = await ops.show(q, ids[14]!);
          assert.equal(shown.id, ids[14]);
          assert.deepEqual(
            calls.map((c) => [c.method, c.max]),
            [['browse', MAX_SCAN]],
          );
          assert.equal(calls[0]!.visited, 14 - 3 + 1, 'read up to the match (three left before it)');
          calls.length = 0;
          await rejectsWith(ops.show(q, 'letter-missing'), 'NOT_FOUND', /no dead letter 'letter-missing'/);
          assert.equal(calls[0]!.visited, 22, 'a miss reads the queue once, to its end');

          for (const limit of [0, 501, 2.5]) await rejectsWith(ops.listPage(q, { limit }), 'INVALID_REQUEST');
          for (const bad of ['', 'nope!', Buffer.from('{"o":0,"a":"x"}').toString('base64url')]) {
            await rejectsWith(ops.listPage(q, { cursor: bad }), 'INVALID_CURSOR');
          }
          assert.equal((await raw.checkQueue(dlq))?.messageCount, 22, 'reading removed nothing');
        } finally {
          await raw.close();
          await names.cleanup(backend.name);
        }
      },
    );
  });
}
