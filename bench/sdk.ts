/**
 * SDK benchmarks, each beside raw clients measured in the same run on the same
 * broker, exchange, queue and bytes:
 * - publish with confirms: `bus.publishEnvelope` (the gateway's hot path) and
 *   `bus.publish` (envelope completion and validation included) against raw amqplib
 *   (the client the RabbitMQ transport is built on) publishing the same JSON bodies with
 *   the same properties, persistent and mandatory, on a confirm channel, through the same
 *   topic exchange into the same durable queue, with the same number in flight.
 * - consume with ack: `bus.subscribe` (the whole middleware chain: decode, retry,
 *   dead-letter, correlation) against raw consumers acking each message, same
 *   prefetch, same pre-filled queue.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { type Bus, connect, createRabbitMqTransport, type Transport } from '@33god/bloodbank';
import { completeEnvelope, type EventEnvelope, envelopeAmqpProperties } from '@33god/core';
import amqplib from 'amqplib';
import { interleaved, pipelined } from './transport.js';
import { type BenchContext, type BenchResult, type BenchSuite, RAW_AMQP_SOCKET, result } from './types.js';

const WINDOW = 256;
const PREFETCH = 256;
const EVENT_TYPE = 'bench.item.created';

interface Setup {
  exchange: string;
  queue: string;
  dlx: string;
  bus: Bus;
  transport: Transport;
}

function envelopes(count: number): EventEnvelope[] {
  return Array.from({ length: count }, (_, i) =>
    completeEnvelope(
      { event_type: EVENT_TYPE, payload: { i, sku: `sku-${i}`, note: 'x'.repeat(200) } },
      { app: 'bench' },
    ),
  );
}

/** The bytes and properties every publisher sends for one envelope. */
function wire(env: EventEnvelope) {
  return {
    body: Buffer.from(JSON.stringify(env)),
    props: { ...envelopeAmqpProperties(env), persistent: true, mandatory: true },
  };
}

async function rate(count: number, run: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await run();
  return count / ((performance.now() - t0) / 1000);
}

async function purge(url: string, queue: string): Promise<void> {
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createChannel();
    await ch.purgeQueue(queue);
  } finally {
    await conn.close();
  }
}

async function rawAmqplibPublish(url: string, exchange: string, envs: EventEnvelope[]): Promise<number> {
  const conn = await amqplib.connect(url, RAW_AMQP_SOCKET);
  try {
    const ch = await conn.createConfirmChannel();
    return await rate(envs.length, () =>
      pipelined(envs.length, WINDOW, (i) => {
        const { body, props } = wire(envs[i]!);
        return new Promise<void>((resolve, reject) => {
          ch.publish(exchange, EVENT_TYPE, body, props, (err) => (err ? reject(err) : resolve()));
        });
      }),
    );
  } finally {
    await conn.close();
  }
}

/** Fills the queue through the exchange with the envelopes' bytes (raw amqplib, confirmed). */
async function fill(url: string, exchange: string, envs: EventEnvelope[]): Promise<void> {
  await rawAmqplibPublish(url, exchange, envs);
}

async function rawAmqplibConsume(url: string, queue: string, count: number): Promise<number> {
  const conn = await amqplib.connect(url, RAW_AMQP_SOCKET);
  try {
    const ch = await conn.createChannel();
    await ch.prefetch(PREFETCH);
    return await rate(
      count,
      () =>
        new Promise<void>((resolve) => {
          let n = 0;
          void ch.consume(queue, (msg) => {
            if (!msg) return;
            ch.ack(msg);
            if (++n === count) resolve();
          });
        }),
    );
  } finally {
    await conn.close();
  }
}

async function sdkConsume(bus: Bus, queue: string, count: number): Promise<number> {
  let n = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => {
    done = r;
  });
  const t0 = performance.now();
  const sub = await bus.subscribe(
    queue,
    [EVENT_TYPE],
    async () => {
      if (++n === count) done();
    },
    { prefetch: PREFETCH, declare: false },
  );
  await finished;
  const perSecond = count / ((performance.now() - t0) / 1000);
  await sub.cancel();
  return perSecond;
}

async function setup(url: string): Promise<Setup> {
  const prefix = `bench.sdk.${randomBytes(4).toString('hex')}`;
  const exchange = `${prefix}.events`;
  const dlx = `${prefix}.dlx`;
  const queue = `${prefix}.q`;
  const transport = await createRabbitMqTransport({ url });
  const bus = await connect({
    app: 'bench',
    transport,
    exchange,
    topology: { dlx, monitorQueue: false, retryTiersMs: [1000] },
  });
  // Declares the exchanges, the durable queue, its dead-letter and retry queues and the binding.
  const sub = await bus.subscribe(queue, [EVENT_TYPE], async () => {});
  await sub.cancel();
  return { exchange, queue, dlx, bus, transport };
}

async function teardown(url: string, s: Setup): Promise<void> {
  await s.bus.close();
  await s.transport.close();
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createChannel();
    for (const q of [s.queue, `${s.queue}.dlq`, `${s.queue}.retry.1s`, `${s.exchange}.unroutable`]) {
      await ch.deleteQueue(q);
    }
    for (const ex of [s.exchange, s.dlx, `${s.exchange}.unroutable`]) await ch.deleteExchange(ex);
  } finally {
    await conn.close();
  }
}

export const suite: BenchSuite = async (ctx: BenchContext): Promise<BenchResult[]> => {
  const url = ctx.amqpUrl;
  const count = Math.max(1000, Math.round(20_000 * ctx.scale));
  const runs = ctx.scale < 1 ? 2 : 5;
  const s = await setup(url);
  try {
    const envs = envelopes(count);
    const sized = (warmup: boolean) => (warmup ? envs.slice(0, 1000) : envs);
    // Each publisher leaves its messages in the queue; the purge is not timed.
    const publisher =
      (fn: (batch: EventEnvelope[]) => Promise<number>) =>
      async (warmup: boolean): Promise<number> => {
        const r = await fn(sized(warmup));
        await purge(url, s.queue);
        return r;
      };
    const pub = await interleaved(runs, {
      raw: publisher((batch) => rawAmqplibPublish(url, s.exchange, batch)),
      envelope: publisher((batch) =>
        rate(batch.length, () => pipelined(batch.length, WINDOW, (i) => s.bus.publishEnvelope(batch[i]!))),
      ),
      publish: publisher((batch) =>
        rate(batch.length, () =>
          pipelined(batch.length, WINDOW, (i) =>
            s.bus.publish(EVENT_TYPE, batch[i]!.payload as Record<string, unknown>),
          ),
        ),
      ),
    });
    ctx.log(
      `publish/s (best of ${runs} interleaved rounds): raw amqplib ${pub.raw!.toFixed(0)}, ` +
        `SDK publishEnvelope ${pub.envelope!.toFixed(0)}, SDK publish ${pub.publish!.toFixed(0)}`,
    );

    // Each consumer drains a queue filled (untimed) with the same messages.
    const consumer =
      (fn: (n: number) => Promise<number>) =>
      async (warmup: boolean): Promise<number> => {
        const batch = sized(warmup);
        await fill(url, s.exchange, batch);
        return fn(batch.length);
      };
    const sub = await interleaved(runs, {
      raw: consumer((n) => rawAmqplibConsume(url, s.queue, n)),
      sdk: consumer((n) => sdkConsume(s.bus, s.queue, n)),
    });
    ctx.log(
      `consume/s (best of ${runs} interleaved rounds): raw amqplib ${sub.raw!.toFixed(0)}, SDK ${sub.sdk!.toFixed(0)}`,
    );

    return [
      result(
        'SDK publishEnvelope with confirms',
        pub.envelope!,
        'events/s',
        'raw amqplib publish with confirms',
        pub.raw!,
      ),
      result(
        'SDK publish (complete + validate) with confirms',
        pub.publish!,
        'events/s',
        'raw amqplib publish with confirms',
        pub.raw!,
      ),
      result(
        'SDK subscribe consume with ack',
        sub.sdk!,
        'events/s',
        'raw amqplib consume with ack',
        sub.raw!,
      ),
    ];
  } finally {
    await teardown(url, s);
  }
};
