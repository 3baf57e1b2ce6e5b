// Poison messages and handler crashes, on the embedded broker and on RabbitMQ (one factory):
// bodies that are not JSON, JSON that is not an envelope, an envelope of a type no handler
// knows, a handler that throws and one that rejects later from a timer. Each ends in
// `<queue>.dlq` with its reason in the x-dead-letter-* headers, and the consumer keeps
// handling the good events around them. The store's ingest queue gets the same treatment.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  connect,
  createEmbeddedTransport,
  createTransport,
  DEAD_LETTER_HEADERS,
  type Delivery,
  dlqName,
  EmbeddedBroker,
  type EventHandler,
  NonRetryableError,
  retryQueueName,
  type Transport,
} from '@33god/bloodbank';
import { startCandystore } from '@33god/candystore';
import { completeEnvelope, type EventEnvelope, envelopeAmqpProperties } from '@33god/core';
import { deleteFromRabbit, freshDatabase, rid, TEST_AMQP_URL, waitFor } from './support.js';

interface Backend {
  name: 'embedded' | 'rabbitmq';
  /** A transport to the test's broker and what the store needs for its database. */
  open(): Promise<{
    transport: Transport;
    database: { databaseUrl?: string; dataDir?: null };
    cleanup(queues: string[], exchanges: string[]): Promise<void>;
  }>;
}

const BACKENDS: Backend[] = [
  {
    name: 'embedded',
    async open() {
      const transport = createEmbeddedTransport({ broker: new EmbeddedBroker() });
      return {
        transport,
        database: { dataDir: null },
        cleanup: async () => {
          await transport.close();
        },
      };
    },
  },
  {
    name: 'rabbitmq',
    async open() {
      // another test may be restarting the broker right now
      const transport = await waitFor('RabbitMQ', 30_000, () => createTransport({ url: TEST_AMQP_URL }), 500);
      const db = await freshDatabase('poison');
      return {
        transport,
        database: { databaseUrl: db.url },
        cleanup: async (queues, exchanges) => {
          await transport.close().catch(() => {});
          await deleteFromRabbit(queues, exchanges).catch((err) => console.error(`cleanup: ${err}`));
          await db.drop();
        },
      };
    },
  },
];

const envelope = (type: string, payload: Record<string, unknown> = {}): EventEnvelope =>
  completeEnvelope({ event_type: type, payload }, { app: 'poison-test', host: 'test' });

async function publishRaw(
  transport: Transport,
  exchange: string,
  routingKey: string,
  body: string | Buffer,
  messageId?: string,
): Promise<void> {
  await transport.publish({
    exchange,
    routingKey,
    body: Buffer.isBuffer(body) ? body : Buffer.from(body),
    properties: { persistent: true, ...(messageId ? { messageId } : {}) },
  });
}

async function publishEnvelope(transport: Transport, exchange: string, e: EventEnvelope): Promise<void> {
  await transport.publish({
    exchange,
    routingKey: e.event_type,
    body: Buffer.from(JSON.stringify(e)),
    properties: { ...envelopeAmqpProperties(e), persistent: true },
  });
}

/** Takes exactly `n` dead letters (waiting for them), then checks no more arrive. */
async function takeDeadLetters(transport: Transport, dlq: string, n: number): Promise<Delivery[]> {
  const letters: Delivery[] = [];
  await waitFor(`${n} dead letters in ${dlq}`, 20_000, async () => {
    for (;;) {
      const d = await transport.get(dlq);
      if (!d) break;
      d.ack();
      letters.push(d);
    }
    return letters.length >= n;
  });
  await new Promise((r) => setTimeout(r, 300));
  for (;;) {
    const d = await transport.get(dlq);
    if (!d) break;
    d.ack();
    letters.push(d);
  }
  return letters;
}

const header = (d: Delivery, name: string): string => {
  const v = d.properties.headers?.[name];
  return Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
};

for (const backend of BACKENDS) {
  describe(`poison messages and handler crashes (${backend.name})`, { timeout: 90_000 }, () => {
    const cleanups: (() => Promise<void>)[] = [];
    after(async () => {
      for (const c of cleanups.reverse()) await c().catch(() => {});
    });

    it('dead-letters each poison message with its reason and keeps consuming the good events', {
      timeout: 60_000,
    }, async () => {
      const id = rid();
      const exchange = `test.${id}.events`;
      const dlx = `test.${id}.dlx`;
      const queue = `test.${id}.consumer`;
      const tiers = [50, 200];
      const { transport, cleanup } = await backend.open();
      cleanups.push(() =>
        cleanup(
          [queue, dlqName(queue), ...tiers.map((t) => retryQueueName(queue, t)), `${exchange}.unroutable`],
          [exchange, dlx, `${exchange}.unroutable`],
        ),
      );
      const bus = await connect({
        app: 'poison-test',
        transport,
        topology: { exchange, dlx, retryTiersMs: tiers, monitorQueue: false },
        unknownTypes: 'allow',
      });
      cleanups.push(() => bus.close());

      const good: string[] = [];
      const attempts = new Map<string, number>();
      // A service's handler table: each known type has a handler; anything else is refused
      // permanently (a type this service does not understand will not become understandable).
      const handlers: Record<string, (e: EventEnvelope) => Promise<void>> = {
        'test.good.happened': async (e) => {
          good.push(e.event_id);
        },
        'test.crash.sync': (() => {
          throw new TypeError('handler crashed synchronously');
        }) as unknown as (e: EventEnvelope) => Promise<void>,
        'test.crash.async': async () => {
          // rejects from a timer callback, after the handler already yielded
          await new Promise((_, reject) =>
            setTimeout(() => reject(new RangeError('handler crashed asynchronously')), 5),
          );
        },
      };
      const handler: EventHandler = async function poisonTestHandler(event) {
        attempts.set(event.event_id, (attempts.get(event.event_id) ?? 0) + 1);
        const h = handlers[event.event_type];
        if (!h) throw new NonRetryableError(`no handler for event type '${event.event_type}'`);
        await h(event);
      };
      await bus.subscribe(queue, ['test.#'], handler, {
        retry: { maxAttempts: 2, initialDelayMs: 20, maxDelayMs: 40, jitter: 0 },
        prefetch: 4,
      });

      const goodEvents = Array.from({ length: 60 }, (_, i) => envelope('test.good.happened', { i }));
      const unknown = envelope('test.unknown.thing', { what: 'no handler knows me' });
      const crashSync = envelope('test.crash.sync');
      const crashAsync = envelope('test.crash.async');
      const poison: Array<() => Promise<void>> = [
        () => publishRaw(transport, exchange, 'test.raw.garbage', 'this is {not json', 'raw-not-json'),
        () =>
          publishRaw(
            transport,
            exchange,
            'test.raw.binary',
            Buffer.from([0xff, 0xfe, 0x00, 0x01]),
            'raw-binary',
          ),
        () => publishRaw(transport, exchange, 'test.raw.array', '[1,2,3]', 'raw-array'),
        () => publishRaw(transport, exchange, 'test.raw.object', '{"hello":"world"}', 'raw-object'),
        () => publishEnvelope(transport, exchange, unknown),
        () => publishEnvelope(transport, exchange, crashSync),
        () => publishEnvelope(transport, exchange, crashAsync),
      ];
      // the poison spread through the good events
      for (let i = 0; i < goodEvents.length; i++) {
        await publishEnvelope(transport, exchange, goodEvents[i]!);
        if (i % 8 === 3) await poison.shift()?.();
      }
      for (const p of poison) await p();

      const letters = await takeDeadLetters(transport, dlqName(queue), 7);
      await waitFor('every good event handled', 20_000, () => good.length >= goodEvents.length);
      assert.deepEqual(
        new Set(good),
        new Set(goodEvents.map((e) => e.event_id)),
        'every good event was handled',
      );
      assert.equal(good.length, goodEvents.length, 'each good event handled once');
      assert.equal(letters.length, 7, 'exactly the seven poison messages are dead letters');

      const byId = new Map<string, Delivery>();
      for (const l of letters) {
        let key = l.properties.messageId ?? '';
        try {
          key = (JSON.parse(l.body.toString('utf8')) as { event_id?: string }).event_id ?? key;
        } catch {}
        byId.set(key, l);
      }
      const expectations: [string, RegExp, string, number][] = [
        ['raw-not-json', /not JSON/, 'MESSAGE_NOT_JSON', 1],
        ['raw-binary', /not JSON/, 'MESSAGE_NOT_JSON', 1],
        ['raw-array', /must be a JSON object/, 'INVALID_ENVELOPE', 1],
        ['raw-object', /\/event_id is required/, 'INVALID_ENVELOPE', 1],
        [unknown.event_id, /no handler for event type 'test\.unknown\.thing'/, 'NonRetryableError', 1],
        [crashSync.event_id, /handler crashed synchronously/, 'TypeError', 2],
        [crashAsync.event_id, /handler crashed asynchronously/, 'RangeError', 2],
      ];
      for (const [key, reason, errorClass, tries] of expectations) {
        const l = byId.get(key);
        assert.ok(l, `dead letter ${key}`);
        assert.match(header(l, DEAD_LETTER_HEADERS.reason), reason, `reason of ${key}`);
        assert.equal(header(l, DEAD_LETTER_HEADERS.errorClass), errorClass, `error class of ${key}`);
        assert.equal(header(l, DEAD_LETTER_HEADERS.originalQueue), queue);
        assert.equal(header(l, DEAD_LETTER_HEADERS.originalExchange), exchange);
        assert.equal(Number(header(l, DEAD_LETTER_HEADERS.attempts)), tries, `attempts of ${key}`);
      }
      assert.equal(header(byId.get(crashAsync.event_id)!, DEAD_LETTER_HEADERS.handler), 'poisonTestHandler');
      assert.equal(
        header(byId.get(crashSync.event_id)!, DEAD_LETTER_HEADERS.originalRoutingKey),
        'test.crash.sync',
      );
      // the crashing handlers ran once per attempt, the refused type once
      assert.equal(attempts.get(crashSync.event_id), 2);
      assert.equal(attempts.get(crashAsync.event_id), 2);
      assert.equal(attempts.get(unknown.event_id), 1);
      // the body of a dead letter is the message as it was sent
      assert.equal(byId.get('raw-binary')!.body.toString('hex'), 'fffe0001');
      console.log(
        `poison (${backend.name}): ${goodEvents.length} good events handled, ${letters.length} dead letters: ${letters
          .map((l) => header(l, DEAD_LETTER_HEADERS.errorClass))
          .join(', ')}`,
      );
    });

    it("dead-letters poison on the store's ingest queue with a reason and stores the good events", {
      timeout: 60_000,
    }, async () => {
      const id = rid();
      const exchange = `test.${id}.events`;
      const dlx = `test.${id}.dlx`;
      const queue = `test.${id}.store`;
      const { transport, database, cleanup } = await backend.open();
      // the store declares the whole exchange topology: unroutable queue and dead-letter monitor too
      cleanups.push(() =>
        cleanup(
          [queue, dlqName(queue), `${exchange}.unroutable`, `${dlx}.monitor`],
          [exchange, dlx, `${exchange}.unroutable`],
        ),
      );
      const store = await startCandystore({
        ...database,
        transport,
        exchange,
        dlx,
        queue,
        port: 0,
        host: '127.0.0.1',
        logLevel: 'silent',
        publishSummaries: false,
        batchSize: 20,
        batchMaxWaitMs: 10,
      });
      cleanups.push(() => store.close());

      const goodEvents = Array.from({ length: 80 }, (_, i) => envelope('test.good.stored', { i }));
      const badTimestamp = { ...envelope('test.bad.timestamp'), timestamp: 'yesterday' };
      const nulInPayload = envelope('test.bad.nul', { text: 'a\u0000b' });
      const badType = { ...envelope('test.bad.type'), event_type: 'Not A Type!' };
      const poison: [string, string, string, RegExp][] = [
        ['p-not-json', 'test.p.one', '{"event_id": ', /not JSON/],
        ['p-array', 'test.p.two', '[{"event_id":"x"}]', /must be a JSON object/],
        [
          'p-no-id',
          'test.p.three',
          JSON.stringify({ event_type: 'test.p.three', payload: {} }),
          /\/event_id/,
        ],
        ['p-timestamp', 'test.bad.timestamp', JSON.stringify(badTimestamp), /\/timestamp/],
        ['p-nul', 'test.bad.nul', JSON.stringify(nulInPayload), /\\u0000/],
        ['p-type', 'test.bad.type', JSON.stringify(badType), /\/event_type/],
      ];
      const pending = [...poison];
      for (let i = 0; i < goodEvents.length; i++) {
        await publishEnvelope(transport, exchange, goodEvents[i]!);
        if (i % 12 === 5) {
          const p = pending.shift();
          if (p) await publishRaw(transport, exchange, p[1], p[2], p[0]);
        }
      }
      for (const p of pending) await publishRaw(transport, exchange, p[1], p[2], p[0]);

      const letters = await takeDeadLetters(transport, dlqName(queue), poison.length);
      assert.equal(letters.length, poison.length, 'exactly the poison messages are dead letters');
      const byId = new Map(letters.map((l) => [l.properties.messageId, l]));
      for (const [mid, , , reason] of poison) {
        const l = byId.get(mid);
        assert.ok(l, `dead letter ${mid}`);
        assert.match(header(l, DEAD_LETTER_HEADERS.reason), reason, `reason of ${mid}`);
        assert.equal(header(l, DEAD_LETTER_HEADERS.originalQueue), queue);
        assert.equal(header(l, DEAD_LETTER_HEADERS.handler), 'candystore.ingest');
      }
      await waitFor('every good event stored', 20_000, async () => {
        const res = await fetch(`${store.url}/events?type=test.good.stored&limit=1000`);
        const page = (await res.json()) as { items: { event_id: string }[] };
        return page.items.length >= goodEvents.length;
      });
      for (const e of goodEvents) {
        const res = await fetch(`${store.url}/events/${e.event_id}`);
        assert.equal(res.status, 200, `event ${e.event_id} stored`);
      }
      const health = await fetch(`${store.url}/health`);
      assert.equal(health.status, 200, 'the store is healthy after the poison');
      console.log(
        `store poison (${backend.name}): ${goodEvents.length} good events stored, ${letters.length} dead letters`,
      );
    });
  });
}
