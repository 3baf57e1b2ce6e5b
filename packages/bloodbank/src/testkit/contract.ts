import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { isAppError } from '@33god/core';
import type { Delivery, QueueOptions, Transport, TransportFeatures } from '../transport/transport.js';

/**
 * The contract every `Transport` passes: one suite, run against each backend through
 * its factory (the embedded broker and RabbitMQ). `features` names what a backend
 * does not guarantee; the matching tests then check the documented fallback instead.
 * Every test declares its own randomly named exchanges and queues and deletes them, so
 * the suite can run against a broker other suites use at the same time.
 */
export function runTransportContract(
  name: string,
  factory: () => Promise<Transport>,
  features: TransportFeatures,
  options: ContractOptions = {},
): void {
  const T = { timeout: 20_000 };

  describe(`transport contract: ${name}`, () => {
    const scopes: Scope[] = [];
    const open = async (): Promise<Scope> => {
      const s = new Scope(await factory());
      scopes.push(s);
      return s;
    };
    after(async () => {
      for (const s of scopes) await s.dispose();
    });

    it('reports its kind, features and a connected state', T, async () => {
      const s = await open();
      assert.ok(s.t.kind === 'rabbitmq' || s.t.kind === 'embedded');
      assert.deepEqual(s.t.features, features);
      assert.equal(s.t.state, 'connected');
    });

    it('a confirmed publish is in its queue', T, async () => {
      const s = await open();
      const ex = await s.exchange('topic');
      const q = await s.queue();
      await s.t.bindQueue(q, ex, 'a.b.c');
      for (let i = 0; i < 25; i++)
        await s.t.publish({ exchange: ex, routingKey: 'a.b.c', body: Buffer.from(`m${i}`) });
      // Confirms pipelined: resolved together, all there.
      await Promise.all(
        Array.from({ length: 25 }, (_, i) =>
          s.t.publish({ exchange: ex, routingKey: 'a.b.c', body: Buffer.from(`p${i}`) }),
        ),
      );
      const info = await s.t.checkQueue(q);
      assert.equal(info?.messageCount, 50);
    });

    it('a mandatory publish that matches no queue rejects with PUBLISH_UNROUTABLE', T, async () => {
      const s = await open();
      const ex = await s.exchange('topic');
      const q = await s.queue();
      await s.t.bindQueue(q, ex, 'bound.key');
      await assert.rejects(
        s.t.publish({ exchange: ex, routingKey: 'nobody.listens', body: Buffer.from('x') }),
        (e: unknown) => isAppError(e) && e.code === 'PUBLISH_UNROUTABLE',
      );
      // Not mandatory: accepted and dropped, as AMQP says; the transport stays usable.
      await s.t.publish({
        exchange: ex,
        routingKey: 'nobody.listens',
        body: Buffer.from('x'),
        mandatory: false,
      });
      await s.t.publish({ exchange: ex, routingKey: 'bound.key', body: Buffer.from('y') });
      assert.equal((await s.t.checkQueue(q))?.messageCount, 1);
    });

    it(
      'publishing to a missing exchange rejects with EXCHANGE_NOT_FOUND and the transport stays usable',
      T,
      async () => {
        const s = await open();
        await assert.rejects(
          s.t.publish({ exchange: `test.${rand()}.missing`, routingKey: 'a.b', body: Buffer.from('x') }),
          (e: unknown) => isAppError(e) && e.code === 'EXCHANGE_NOT_FOUND',
        );
        const q = await s.queue();
        await s.t.publish({ exchange: '', routingKey: q, body: Buffer.from('after') });
        assert.equal((await s.t.checkQueue(q))?.messageCount, 1);
      },
    );

    it('an alternate exchange receives what the main exchange cannot route', T, async () => {
      const s = await open();
      const ae = await s.exchange('fanout');
      const unrouted = await s.queue();
      await s.t.bindQueue(unrouted, ae, '');
      const ex = await s.exchange('topic', { alternateExchange: ae });
      const q = await s.queue();
      await s.t.bindQueue(q, ex, 'known.#');
      await s.t.publish({ exchange: ex, routingKey: 'unknown.thing', body: Buffer.from('lost?') });
      await s.t.publish({ exchange: ex, routingKey: 'known.thing', body: Buffer.from('routed') });
      const [d] = await s.take(unrouted, 1);
      assert.equal(d?.body.toString(), 'lost?');
      assert.equal(d?.routingKey, 'unknown.thing');
      assert.equal((await s.t.checkQueue(q))?.messageCount, 1);
    });

    it('routes topics with * (one word) and # (zero or more words)', T, async () => {
      const s = await open();
      const ex = await s.exchange('topic');
      const star = await s.queue();
      const hash = await s.queue();
      const tail = await s.queue();
      const all = await s.queue();
      await s.t.bindQueue(star, ex, 'agent.*.created');
      await s.t.bindQueue(hash, ex, 'agent.#');
      await s.t.bindQueue(tail, ex, '#.failed');
      await s.t.bindQueue(all, ex, '#');
      const keys = [
        'agent.task.created',
        'agent.created',
        'agent.a.b.created',
        'agent',
        'x.y.failed',
        'failed',
      ];
      for (const k of keys)
        await s.t.publish({ exchange: ex, routingKey: k, body: Buffer.from(k), mandatory: false });
      const bodies = async (q: string, n: number) =>
        (await s.take(q, n)).map((d) => d.body.toString()).sort();
      assert.deepEqual(await bodies(star, 1), ['agent.task.created']);
      assert.deepEqual(await bodies(hash, 4), [
        'agent',
        'agent.a.b.created',
        'agent.created',
        'agent.task.created',
      ]);
      assert.deepEqual(await bodies(tail, 2), ['failed', 'x.y.failed']);
      assert.equal((await bodies(all, keys.length)).length, keys.length);
      for (const q of [star, hash, tail, all]) assert.equal((await s.t.checkQueue(q))?.messageCount, 0);
    });

    it('routes direct and fanout exchanges', T, async () => {
      const s = await open();
      const direct = await s.exchange('direct');
      const fan = await s.exchange('fanout');
      const a = await s.queue();
      const b = await s.queue();
      await s.t.bindQueue(a, direct, 'k1');
      await s.t.bindQueue(b, direct, 'k2');
      await s.t.bindQueue(a, fan, '');
      await s.t.bindQueue(b, fan, '');
      await s.t.publish({ exchange: direct, routingKey: 'k1', body: Buffer.from('d1') });
      await s.t.publish({ exchange: fan, routingKey: 'whatever', body: Buffer.from('f') });
      assert.deepEqual(
        (await s.take(a, 2)).map((d) => d.body.toString()),
        ['d1', 'f'],
      );
      assert.deepEqual(
        (await s.take(b, 1)).map((d) => d.body.toString()),
        ['f'],
      );
    });

    it(
      'delivers one copy per queue, however many of its bindings match, and fans out to every queue',
      T,
      async () => {
        const s = await open();
        const ex = await s.exchange('topic');
        const a = await s.queue();
        const b = await s.queue();
        for (const p of ['x.y', 'x.*', '#']) await s.t.bindQueue(a, ex, p);
        await s.t.bindQueue(b, ex, 'x.#');
        await s.t.publish({ exchange: ex, routingKey: 'x.y', body: Buffer.from('one') });
        assert.equal((await s.t.checkQueue(a))?.messageCount, 1);
        assert.equal((await s.t.checkQueue(b))?.messageCount, 1);
      },
    );

    it('listBindings returns what was bound', T, async () => {
      const s = await open();
      const ex = await s.exchange('topic');
      const q = await s.queue();
      await s.t.bindQueue(q, ex, 'a.#');
      await s.t.bindQueue(q, ex, 'b.*');
      if (!features.listBindings) {
        await assert.rejects(s.t.listBindings(q));
        return;
      }
      const bindings = await s.waitForBindings(q, ex, 2);
      assert.deepEqual(
        bindings.map((b) => `${b.exchange} ${b.pattern}`).sort(),
        [`${ex} a.#`, `${ex} b.*`].sort(),
      );
      await s.t.unbindQueue(q, ex, 'b.*');
      assert.deepEqual(
        (await s.waitForBindings(q, ex, 1)).map((b) => b.pattern),
        ['a.#'],
      );
    });

    it('publishes to a queue by name through the default exchange', T, async () => {
      const s = await open();
      const q = await s.queue();
      const other = await s.queue();
      await s.t.publish({ exchange: '', routingKey: q, body: Buffer.from('direct to queue') });
      const [d] = await s.take(q, 1);
      assert.equal(d?.body.toString(), 'direct to queue');
      assert.equal((await s.t.checkQueue(other))?.messageCount, 0);
      await assert.rejects(
        s.t.publish({ exchange: '', routingKey: `test.${rand()}.nope`, body: Buffer.from('x') }),
        (e: unknown) => isAppError(e) && e.code === 'PUBLISH_UNROUTABLE',
      );
    });

    it('competing consumers share a queue, each message to exactly one', T, async () => {
      const s = await open();
      const q = await s.queue();
      const seen: string[][] = [[], []];
      for (const i of [0, 1]) {
        await s.t.consume(
          q,
          async (d) => {
            seen[i]!.push(d.body.toString());
            await sleep(2);
            d.ack();
          },
          { prefetch: 1 },
        );
      }
      for (let i = 0; i < 40; i++)
        await s.t.publish({ exchange: '', routingKey: q, body: Buffer.from(String(i)) });
      await waitFor(() => seen[0]!.length + seen[1]!.length >= 40, 'all 40 delivered');
      await sleep(50);
      const all = [...seen[0]!, ...seen[1]!];
      assert.equal(all.length, 40);
      assert.equal(new Set(all).size, 40);
      assert.ok(seen[0]!.length > 5 && seen[1]!.length > 5, `shares: ${seen[0]!.length}/${seen[1]!.length}`);
    });

    it('a single consumer with prefetch 1 receives in publish order', T, async () => {
      const s = await open();
      const q = await s.queue();
      for (let i = 0; i < 30; i++)
        await s.t.publish({ exchange: '', routingKey: q, body: Buffer.from(String(i)) });
      const got = await s.take(q, 30, { prefetch: 1 });
      assert.deepEqual(
        got.map((d) => Number(d.body.toString())),
        Array.from({ length: 30 }, (_, i) => i),
      );
    });

    it('respects prefetch: no more unsettled deliveries than asked for', T, async () => {
      const s = await open();
      const q = await s.queue();
      for (let i = 0; i < 10; i++)
        await s.t.publish({ exchange: '', routingKey: q, body: Buffer.from(String(i)) });
      const held: Delivery[] = [];
      await s.t.consume(q, (d) => void held.push(d), { prefetch: 3 });
      await waitFor(() => held.length >= 3, 'three deliveries');
      await sleep(150);
      assert.equal(held.length, 3);
      held[0]!.ack();
      await waitFor(() => held.length >= 4, 'a fourth after one ack');
      await sleep(100);
      assert.equal(held.length, 4);
      for (const d of held) d.ack();
    });

    it('settles out of order: acked are gone, nacked come back, held ones return on close', T, async () => {
      const s = await open();
      const q = await s.queue();
      const n = 60;
      for (let i = 0; i < n; i++)
        await s.t.publish({ exchange: '', routingKey: q, body: Buffer.from(String(i)) });
      // Every third is held until the end, every fifth (not held) nacked once; the rest
      // are acked after a delay that makes handlers finish in a shuffled order.
      const consumerSide = await factory();
      after(() => consumerSide.close({ drainTimeoutMs: 100 }));
      const held: Delivery[] = [];
      const acked = new Set<number>();
      const nacked = new Set<number>();
      await consumerSide.consume(
        q,
        async (d) => {
          const i = Number(d.body.toString());
          if (i % 3 === 0 && !d.redelivered) {
            held.push(d);
            return;
          }
          await sleep((i * 7) % 13);
          if (i % 5 === 0 && !nacked.has(i)) {
            nacked.add(i);
            d.nack({ requeue: true });
            return;
          }
          acked.add(i);
          d.ack();
        },
        { prefetch: 40 },
      );
      const heldCount = Math.ceil(n / 3);
      await waitFor(
        () => acked.size === n - heldCount && held.length === heldCount,
        'every delivery settled',
      );
      // Let any coalesced acks reach the broker, then close with the held ones unsettled.
      await sleep(100);
      await consumerSide.close({ drainTimeoutMs: 100 });
      const back = await s.take(q, heldCount);
      assert.deepEqual(
        back.map((d) => Number(d.body.toString())).sort((a, b) => a - b),
        held.map((d) => Number(d.body.toString())).sort((a, b) => a - b),
      );
      assert.ok(back.every((d) => d.redelivered));
      await sleep(100);
      assert.equal((await s.t.checkQueue(q))?.messageCount, 0, 'nothing acked came back');
    });

    it('ack removes the message; settling twice is a no-op', T, async () => {
      const s = await open();
      const q = await s.queue();
      await s.t.publish({ exchange: '', routingKey: q, body: Buffer.from('once') });
      const d = await s.t.get(q);
      assert.ok(d);
      d.ack();
      d.ack();
      d.nack({ requeue: true });
      await sleep(50);
      assert.equal((await s.t.checkQueue(q))?.messageCount, 0);
      assert.equal(await s.t.get(q), null);
    });

    it('nack with requeue redelivers the message, marked redelivered', T, async () => {
      const s = await open();
      const q = await s.queue();
      await s.t.publish({ exchange: '', routingKey: q, body: Buffer.from('again') });
      const seen: { body: string; redelivered: boolean }[] = [];
      await s.t.consume(q, (d) => {
        seen.push({ body: d.body.toString(), redelivered: d.redelivered });
        if (seen.length === 1) d.nack({ requeue: true });
        else d.ack();
      });
      await waitFor(() => seen.length >= 2, 'redelivery');
      assert.deepEqual(seen, [
        { body: 'again', redelivered: false },
        { body: 'again', redelivered: true },
      ]);
    });

    it('a handler that throws without settling gets its message requeued', T, async () => {
      const s = await open();
      const q = await s.queue();
      await s.t.publish({ exchange: '', routingKey: q, body: Buffer.from('boom') });
      let calls = 0;
      await s.t.consume(q, async (d) => {
        calls++;
        if (calls === 1) throw new Error('handler bug');
        assert.equal(d.redelivered, true);
        d.ack();
      });
      await waitFor(() => calls >= 2, 'redelivery after a throw');
    });

    it('nack without requeue dead-letters through the DLX with x-death', T, async () => {
      const s = await open();
      const ex = await s.exchange('topic');
      const dlx = await s.exchange('topic');
      const dlq = await s.queue();
      await s.t.bindQueue(dlq, dlx, '#');
      const q = await s.queue({ deadLetterExchange: dlx });
      await s.t.bindQueue(q, ex, 'order.*.placed');
      await s.t.publish({
        exchange: ex,
        routingKey: 'order.eu.placed',
        body: Buffer.from('poison'),
        properties: { messageId: 'm-1', headers: { 'x-app': 'kept' } },
      });
      const before = Math.floor(Date.now() / 1000) - 1;
      const d = await s.t.get(q);
      assert.ok(d);
      d.nack({ requeue: false });
      const [dead] = await s.take(dlq, 1);
      assert.ok(dead);
      assert.equal(dead.body.toString(), 'poison');
      assert.equal(dead.routingKey, 'order.eu.placed');
      assert.equal(dead.properties.messageId, 'm-1');
      assert.equal(dead.properties.headers?.['x-app'], 'kept');
      const deaths = deathsOf(dead);
      assert.equal(deaths.length, 1, 'one x-death entry');
      const death = deaths[0]!;
      assert.equal(death.count, 1);
      assert.equal(death.reason, 'rejected');
      assert.equal(death.queue, q);
      assert.equal(death.exchange, ex);
      assert.deepEqual(death['routing-keys'], ['order.eu.placed']);
      assert.equal(typeof death.time, 'number');
      assert.ok((death.time as number) >= before && (death.time as number) <= Date.now() / 1000 + 1);
      assert.equal((await s.t.checkQueue(q))?.messageCount, 0);
    });

    it('dead-letters with x-dead-letter-routing-key and counts repeated deaths', T, async () => {
      const s = await open();
      // The dead-letter key names another queue through the default exchange.
      const back = await s.queue();
      const q2 = await s.queue({ deadLetterExchange: '', deadLetterRoutingKey: back });
      await s.t.publish({ exchange: '', routingKey: q2, body: Buffer.from('1') });
      (await s.t.get(q2))?.nack({ requeue: false });
      const [d] = await s.take(back, 1);
      assert.ok(d);
      assert.equal(d.routingKey, back);
      const death = deathsOf(d)[0]!;
      assert.deepEqual(death['routing-keys'], [q2]);
      assert.equal(death.queue, q2);
      // Back into q2 and rejected again: one entry for (q2, rejected), count 2.
      await s.t.publish({
        exchange: '',
        routingKey: q2,
        body: d.body,
        properties: { headers: d.properties.headers ?? {} },
      });
      (await s.t.get(q2))?.nack({ requeue: false });
      const [d2] = await s.take(back, 1);
      assert.ok(d2);
      const deaths = deathsOf(d2);
      assert.equal(deaths.length, 1);
      assert.equal(deaths[0]?.count, 2);
    });

    it('expired messages (queue TTL and per-message expiration) are dead-lettered', T, async () => {
      const s = await open();
      const dlx = await s.exchange('fanout');
      const dlq = await s.queue();
      await s.t.bindQueue(dlq, dlx, '');
      const q = await s.queue({ messageTtlMs: 150, deadLetterExchange: dlx });
      const q2 = await s.queue({ deadLetterExchange: dlx });
      await s.t.publish({ exchange: '', routingKey: q, body: Buffer.from('queue-ttl') });
      await s.t.publish({
        exchange: '',
        routingKey: q2,
        body: Buffer.from('message-ttl'),
        properties: { expiration: '100' },
      });
      const got = await s.take(dlq, 2);
      assert.deepEqual(got.map((d) => d.body.toString()).sort(), ['message-ttl', 'queue-ttl']);
      for (const d of got) {
        const death = deathsOf(d)[0]!;
        assert.equal(death.reason, 'expired');
        assert.equal(d.properties.expiration, undefined);
      }
      assert.equal((await s.t.checkQueue(q))?.messageCount, 0);
      assert.equal((await s.t.checkQueue(q2))?.messageCount, 0);
    });

    it(
      'a dead-letter cycle with no rejection in it drops the message; one with a rejection does not',
      T,
      async () => {
        const s = await open();
        // max-length: the dropped head is dead-lettered back to its own queue (and to a witness).
        const dlx = await s.exchange('fanout');
        const q = await s.queue({ maxLength: 1, deadLetterExchange: dlx });
        const witness = await s.queue();
        await s.t.bindQueue(q, dlx, '');
        await s.t.bindQueue(witness, dlx, '');
        await s.t.publish({ exchange: '', routingKey: q, body: Buffer.from('first') });
        await s.t.publish({ exchange: '', routingKey: q, body: Buffer.from('second') });
        const [seen] = await s.take(witness, 1);
        assert.equal(seen?.body.toString(), 'first');
        assert.equal(deathsOf(seen!)[0]?.reason, 'maxlen');
        assert.deepEqual(
          (await s.take(q, 1)).map((d) => d.body.toString()),
          ['second'],
        );
        assert.equal((await s.t.checkQueue(q))?.messageCount, 0);

        // Expiry back into the same queue: dropped, not expired again and again.
        const dlx2 = await s.exchange('fanout');
        const q2 = await s.queue({ messageTtlMs: 50, deadLetterExchange: dlx2 });
        const witness2 = await s.queue();
        await s.t.bindQueue(q2, dlx2, '');
        await s.t.bindQueue(witness2, dlx2, '');
        await s.t.publish({ exchange: '', routingKey: q2, body: Buffer.from('ttl') });
        const [expired] = await s.take(witness2, 1);
        assert.equal(deathsOf(expired!)[0]?.reason, 'expired');
        await new Promise((r) => setTimeout(r, 300));
        assert.equal((await s.t.checkQueue(q2))?.messageCount, 0);
        assert.equal((await s.t.checkQueue(witness2))?.messageCount, 0);

        // A rejection breaks the cycle: the message comes back to its queue.
        const dlx3 = await s.exchange('fanout');
        const q3 = await s.queue({ deadLetterExchange: dlx3 });
        await s.t.bindQueue(q3, dlx3, '');
        await s.t.publish({ exchange: '', routingKey: q3, body: Buffer.from('rejected') });
        (await s.t.get(q3))?.nack({ requeue: false });
        const [back] = await s.take(q3, 1);
        assert.equal(back?.body.toString(), 'rejected');
        assert.equal(deathsOf(back!)[0]?.reason, 'rejected');
      },
    );

    it('max-length drops from the head', T, async () => {
      const s = await open();
      const q = await s.queue({ maxLength: 3 });
      for (let i = 0; i < 5; i++)
        await s.t.publish({ exchange: '', routingKey: q, body: Buffer.from(String(i)) });
      assert.deepEqual(
        (await s.take(q, 3)).map((d) => d.body.toString()),
        ['2', '3', '4'],
      );
    });

    it('a publish routed to a full queue is refused whole (queueBound)', T, async () => {
      // Without the feature there is nothing to check: RabbitMQ bounds memory with its alarm.
      if (!features.queueBound) return;
      assert.ok(options.bounded, 'a backend with queueBound passes a `bounded` factory');
      const s = new Scope(await options.bounded(2));
      scopes.push(s);
      const ex = await s.exchange('fanout');
      const roomy = await s.queue();
      const full = await s.queue();
      await s.t.bindQueue(roomy, ex, '');
      await s.t.bindQueue(full, ex, '');
      for (const b of ['a', 'b']) await s.t.publish({ exchange: '', routingKey: full, body: Buffer.from(b) });
      await assert.rejects(
        s.t.publish({ exchange: ex, routingKey: '', body: Buffer.from('refused') }),
        (e: unknown) => isAppError(e) && e.code === 'PUBLISH_NACKED' && e.message.includes(full),
      );
      assert.equal((await s.t.checkQueue(roomy))?.messageCount, 0);
      await s.take(full, 1);
      await s.t.publish({ exchange: ex, routingKey: '', body: Buffer.from('taken') });
      assert.equal((await s.t.checkQueue(roomy))?.messageCount, 1);
      assert.equal((await s.t.checkQueue(full))?.messageCount, 2);
    });

    it('peek reads without removing; get takes one; purge counts', T, async () => {
      const s = await open();
      const q = await s.queue();
      for (const b of ['a', 'b', 'c'])
        await s.t.publish({ exchange: '', routingKey: q, body: Buffer.from(b) });
      const peeked = await s.t.peek(q, 2);
      assert.deepEqual(
        peeked.map((d) => d.body.toString()),
        ['a', 'b'],
      );
      assert.equal((await s.t.checkQueue(q))?.messageCount, 3);
      const again = await s.t.peek(q, 10);
      assert.deepEqual(
        again.map((d) => d.body.toString()),
        ['a', 'b', 'c'],
      );
      const d = await s.t.get(q);
      assert.equal(d?.body.toString(), 'a');
      assert.equal(d?.redelivered, true, 'a peeked message counts as delivered once');
      d?.ack();
      assert.equal((await s.t.checkQueue(q))?.messageCount, 2);
      assert.equal(await s.t.purgeQueue(q), 2);
      assert.equal((await s.t.checkQueue(q))?.messageCount, 0);
      assert.deepEqual(await s.t.peek(q, 5), []);
      assert.equal(await s.t.get(q), null);
    });

    it(
      'browse hands messages over in order, up to max or until told to stop, and removes none',
      T,
      async () => {
        const s = await open();
        const q = await s.queue();
        for (const b of ['a', 'b', 'c', 'd'])
          await s.t.publish({ exchange: '', routingKey: q, body: Buffer.from(b) });
        const browse = async (max: number, stopAt?: string) => {
          const seen: string[] = [];
          const read = await s.t.browse(q, max, (d) => {
            seen.push(d.body.toString());
            assert.equal(d.redelivered, true);
            return d.body.toString() !== stopAt;
          });
          return { read, seen };
        };
        assert.deepEqual(await browse(10), { read: 4, seen: ['a', 'b', 'c', 'd'] });
        assert.deepEqual(await browse(2), { read: 2, seen: ['a', 'b'] });
        assert.deepEqual(await browse(10, 'c'), { read: 3, seen: ['a', 'b', 'c'] });
        assert.equal((await s.t.checkQueue(q))?.messageCount, 4);
        assert.deepEqual(
          (await s.t.peek(q, 10)).map((d) => d.body.toString()),
          ['a', 'b', 'c', 'd'],
          'every message read went back in its place',
        );
        const empty = await s.queue();
        assert.equal(await s.t.browse(empty, 5, () => true), 0);
      },
    );

    it(
      'checkQueue of a missing queue is null and does not create it; checkExchange likewise',
      T,
      async () => {
        const s = await open();
        const name = `test.${rand()}.absent`;
        assert.equal(await s.t.checkQueue(name), null);
        assert.equal(await s.t.checkQueue(name), null);
        assert.equal(await s.t.checkExchange(name), false);
        const ex = await s.exchange('topic');
        assert.equal(await s.t.checkExchange(ex), true);
        const q = await s.queue();
        assert.deepEqual(await s.t.checkQueue(q), { name: q, messageCount: 0, consumerCount: 0 });
        // The transport is still usable after the failed passive checks.
        await s.t.publish({ exchange: '', routingKey: q, body: Buffer.from('x') });
        assert.equal((await s.t.checkQueue(q))?.messageCount, 1);
      },
    );

    it('operations on a missing queue fail with QUEUE_NOT_FOUND', T, async () => {
      const s = await open();
      const name = `test.${rand()}.absent`;
      const notFound = (e: unknown) => isAppError(e) && e.code === 'QUEUE_NOT_FOUND';
      await assert.rejects(s.t.purgeQueue(name), notFound);
      await assert.rejects(
        s.t.consume(name, () => {}),
        notFound,
      );
      await s.t.deleteQueue(name);
      assert.equal(await s.t.checkQueue(name), null);
    });

    it(
      'declares classic and quorum queues; a conflicting re-declaration fails with TOPOLOGY_CONFLICT',
      T,
      async () => {
        const s = await open();
        const quorum = await s.queue({ queueType: 'quorum', durable: true, deadLetterExchange: '' });
        const classic = await s.queue({ queueType: 'classic' });
        for (const q of [quorum, classic]) {
          await s.t.publish({ exchange: '', routingKey: q, body: Buffer.from(q) });
          const [d] = await s.take(q, 1);
          assert.equal(d?.body.toString(), q);
        }
        // Re-declaring with the same arguments is fine.
        await s.t.assertQueue(quorum, { queueType: 'quorum', durable: true, deadLetterExchange: '' });
        await assert.rejects(
          s.t.assertQueue(quorum, { queueType: 'classic', durable: true, deadLetterExchange: '' }),
          (e: unknown) => isAppError(e) && e.code === 'TOPOLOGY_CONFLICT',
        );
        // Still usable after the refused declaration.
        assert.equal((await s.t.checkQueue(classic))?.messageCount, 0);
        if (features.quorumQueues) {
          // A quorum queue nacked with requeue counts deliveries (x-delivery-count): it is real.
          await s.t.publish({ exchange: '', routingKey: quorum, body: Buffer.from('n') });
          (await s.t.get(quorum))?.nack({ requeue: true });
          const again = await s.take(quorum, 1);
          assert.equal(again[0]?.properties.headers?.['x-delivery-count'], 1);
        }
      },
    );

    it('close waits for in-flight handlers, and unsettled messages return to the queue', T, async () => {
      const s = await open();
      const q = await s.queue();
      const consumerSide = await factory();
      after(() => consumerSide.close({ drainTimeoutMs: 100 }));
      let finished = false;
      let started = 0;
      await consumerSide.consume(
        q,
        async (d) => {
          started++;
          if (d.body.toString() === 'slow') {
            await sleep(300);
            finished = true;
            d.ack();
          }
          // 'held' is never settled by its handler.
        },
        { prefetch: 5 },
      );
      await s.t.publish({ exchange: '', routingKey: q, body: Buffer.from('slow') });
      await s.t.publish({ exchange: '', routingKey: q, body: Buffer.from('held') });
      await waitFor(() => started >= 2, 'both delivered');
      const states: string[] = [];
      consumerSide.onStateChange((st) => states.push(st));
      await consumerSide.close({ drainTimeoutMs: 5_000 });
      assert.equal(finished, true, 'close resolved before the in-flight handler finished');
      assert.equal(consumerSide.state, 'closed');
      assert.ok(states.includes('closed'));
      await assert.rejects(
        consumerSide.publish({ exchange: '', routingKey: q, body: Buffer.from('late') }),
        (e: unknown) => isAppError(e) && e.code === 'TRANSPORT_CLOSED',
      );
      const back = await s.take(q, 1);
      assert.equal(back[0]?.body.toString(), 'held');
      assert.equal(back[0]?.redelivered, true);
    });

    it(
      'a durable queue and its persistent messages outlive the transport that declared them',
      T,
      async () => {
        const s = await open();
        const first = await factory();
        const q = `test.${rand()}.durable`;
        try {
          await first.assertQueue(q, { durable: true });
          await first.publish({
            exchange: '',
            routingKey: q,
            body: Buffer.from('kept'),
            properties: { persistent: true },
          });
          await first.close();
          const [d] = await s.take(q, 1);
          assert.equal(d?.body.toString(), 'kept');
          assert.equal(d?.properties.persistent, true);
        } finally {
          await first.close();
          await s.t.deleteQueue(q);
        }
      },
    );

    it('cancelling a consumer stops deliveries and waits for its handlers', T, async () => {
      const s = await open();
      const q = await s.queue();
      let got = 0;
      let done = false;
      const c = await s.t.consume(q, async (d) => {
        got++;
        await sleep(100);
        done = true;
        d.ack();
      });
      await s.t.publish({ exchange: '', routingKey: q, body: Buffer.from('1') });
      await waitFor(() => got === 1, 'first delivery');
      await c.cancel();
      assert.equal(done, true);
      await s.t.publish({ exchange: '', routingKey: q, body: Buffer.from('2') });
      await sleep(100);
      assert.equal(got, 1);
      assert.equal((await s.t.checkQueue(q))?.messageCount, 1);
    });

    it('passes any body through byte for byte (transports do not parse)', T, async () => {
      const s = await open();
      const q = await s.queue();
      const bodies = [
        randomBytes(4096),
        Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28]),
        Buffer.from('{"not": json'),
        Buffer.alloc(0),
      ];
      for (const body of bodies) {
        await s.t.publish({
          exchange: '',
          routingKey: q,
          body,
          properties: {
            contentType: 'application/octet-stream',
            type: 'x.y',
            messageId: 'id',
            timestamp: 1700000000,
          },
        });
      }
      const got = await s.take(q, bodies.length);
      assert.equal(got.length, bodies.length);
      got.forEach((d, i) => {
        assert.ok(d.body.equals(bodies[i]!), `body ${i} changed`);
        assert.equal(d.properties.contentType, 'application/octet-stream');
        assert.equal(d.properties.type, 'x.y');
        assert.equal(d.properties.timestamp, 1700000000);
      });
    });

    it('a publish whose buffer is reused afterwards is not affected', T, async () => {
      const s = await open();
      const q = await s.queue();
      const buf = Buffer.from('original');
      await s.t.publish({ exchange: '', routingKey: q, body: buf });
      buf.write('changed!');
      const [d] = await s.take(q, 1);
      assert.equal(d?.body.toString(), 'original');
    });
  });
}

/** Names, cleanup and small helpers for one test's view of a transport. */
export interface ContractOptions {
  /**
   * Backends with `queueBound`: a transport on a broker of its own whose queues hold at most
   * `maxQueueMessages` ready messages.
   */
  bounded?: (maxQueueMessages: number) => Promise<Transport>;
}

class Scope {
  readonly t: Transport;
  readonly #queues: string[] = [];
  readonly #exchanges: string[] = [];
  constructor(t: Transport) {
    this.t = t;
  }

  async exchange(type: 'topic' | 'direct' | 'fanout', options: { alternateExchange?: string } = {}) {
    const name = `test.${rand()}.events`;
    await this.t.assertExchange(name, type, { durable: false, ...options });
    this.#exchanges.push(name);
    return name;
  }

  async queue(options: QueueOptions = {}) {
    const name = `test.${rand()}.q`;
    this.#queues.push(name);
    await this.t.assertQueue(name, { durable: false, ...options });
    return name;
  }

  /** Consumes exactly `n` messages (acking them), waiting for them to arrive. */
  async take(queue: string, n: number, options: { prefetch?: number } = {}): Promise<Delivery[]> {
    const got: Delivery[] = [];
    const c = await this.t.consume(
      queue,
      (d) => {
        if (got.length < n) {
          got.push(d);
          d.ack();
        } else {
          d.nack({ requeue: true });
        }
      },
      { prefetch: options.prefetch ?? 50 },
    );
    try {
      await waitFor(() => got.length >= n, `${n} message(s) on ${queue}`);
    } finally {
      await c.cancel();
    }
    return got;
  }

  /** The management API that lists bindings may lag a moment behind the broker. */
  async waitForBindings(queue: string, exchange: string, n: number) {
    let last: Awaited<ReturnType<Transport['listBindings']>> = [];
    await waitFor(async () => {
      last = (await this.t.listBindings(queue)).filter((b) => b.exchange === exchange);
      return last.length === n;
    }, `${n} binding(s) of ${queue}`);
    return last;
  }

  async dispose(): Promise<void> {
    if (this.t.state !== 'closed') {
      for (const q of this.#queues) await this.t.deleteQueue(q).catch(() => {});
      for (const e of this.#exchanges) await this.t.deleteExchange(e).catch(() => {});
      await this.t.close({ drainTimeoutMs: 1_000 });
    } else if (this.#queues.length + this.#exchanges.length > 0) {
      throw new Error('a scope was closed before its names were cleaned up');
    }
  }
}

function deathsOf(d: Delivery): Record<string, unknown>[] {
  const deaths = d.properties.headers?.['x-death'];
  assert.ok(Array.isArray(deaths), 'an x-death header');
  return deaths as Record<string, unknown>[];
}

function rand(): string {
  return randomBytes(6).toString('hex');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls a condition; fails with what was awaited instead of hanging until the test timeout. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
