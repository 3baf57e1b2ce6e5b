/**
 * Transport benchmarks. References measured in the same run:
 * - raw amqplib and raw rabbitmq-client, publishing the same bytes with publisher
 *   confirms and consuming with manual acks (the two candidate clients; the faster one
 *   is what the RabbitMQ transport is built on, see docs/bloodbank-transport.md);
 * - a plain EventEmitter hand-off for the embedded broker's publish-to-handler path.
 * The raw helpers are exported so other benches (gateway, SDK) can reuse them.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import {
  createEmbeddedTransport,
  createRabbitMqTransport,
  EmbeddedBroker,
  type Transport,
} from '@33god/bloodbank';
import amqplib from 'amqplib';
import { Connection as RmqConnection } from 'rabbitmq-client';
import { type BenchContext, type BenchResult, type BenchSuite, RAW_AMQP_SOCKET, result } from './types.js';

export interface ThroughputOptions {
  /** Messages to send or receive. */
  count: number;
  /** Body size in bytes (default 512, about one event envelope). */
  size?: number;
  /** Publishes awaiting their confirm at once (default 256). */
  window?: number;
  /** Consumer prefetch (default 256). */
  prefetch?: number;
}

const DEFAULT_SIZE = 512;
const DEFAULT_WINDOW = 256;
const DEFAULT_PREFETCH = 256;

function benchQueueName(label: string): string {
  return `bench.${label}.${randomBytes(4).toString('hex')}`;
}

/** Runs `count` async operations with at most `window` in flight; resolves when all are done. */
export async function pipelined(
  count: number,
  window: number,
  op: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      await op(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, lane));
}

/** Messages per second: `count` over the time `run` took. */
async function rate(count: number, run: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await run();
  return count / ((performance.now() - t0) / 1000);
}

// --- queue helpers on a throwaway amqplib connection ---

async function withAdmin<T>(url: string, fn: (ch: amqplib.ConfirmChannel) => Promise<T>): Promise<T> {
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createConfirmChannel();
    return await fn(ch);
  } finally {
    await conn.close().catch(() => {});
  }
}

/** Declares a non-durable bench queue and fills it with `count` bodies of `size` bytes. */
export async function prepareQueue(
  url: string,
  label: string,
  fill = 0,
  size = DEFAULT_SIZE,
): Promise<string> {
  const queue = benchQueueName(label);
  await withAdmin(url, async (ch) => {
    await ch.assertQueue(queue, { durable: false });
    const body = randomBytes(size);
    for (let i = 0; i < fill; i++) {
      if (!ch.publish('', queue, body)) await new Promise((r) => ch.once('drain', r));
    }
    await ch.waitForConfirms();
  });
  return queue;
}

export async function deleteQueue(url: string, queue: string): Promise<void> {
  await withAdmin(url, (ch) => ch.deleteQueue(queue)).catch(() => {});
}

// --- raw amqplib ---

/** Raw amqplib: publish with confirms through a confirm channel, `window` in flight. */
export async function rawAmqplibPublish(url: string, opts: ThroughputOptions): Promise<number> {
  const queue = await prepareQueue(url, 'amqplib-pub');
  const conn = await amqplib.connect(url, RAW_AMQP_SOCKET);
  try {
    const ch = await conn.createConfirmChannel();
    const body = randomBytes(opts.size ?? DEFAULT_SIZE);
    return await rate(opts.count, () =>
      pipelined(
        opts.count,
        opts.window ?? DEFAULT_WINDOW,
        () =>
          new Promise<void>((resolve, reject) => {
            ch.publish('', queue, body, { mandatory: true }, (err) => (err ? reject(err) : resolve()));
          }),
      ),
    );
  } finally {
    await conn.close().catch(() => {});
    await deleteQueue(url, queue);
  }
}

/** Raw amqplib: consume a pre-filled queue with manual acks. */
export async function rawAmqplibConsume(url: string, opts: ThroughputOptions): Promise<number> {
  const queue = await prepareQueue(url, 'amqplib-sub', opts.count, opts.size);
  const conn = await amqplib.connect(url, RAW_AMQP_SOCKET);
  try {
    const ch = await conn.createChannel();
    await ch.prefetch(opts.prefetch ?? DEFAULT_PREFETCH);
    return await rate(
      opts.count,
      () =>
        new Promise<void>((resolve) => {
          let n = 0;
          void ch.consume(queue, (msg) => {
            if (!msg) return;
            ch.ack(msg);
            if (++n === opts.count) resolve();
          });
        }),
    );
  } finally {
    await conn.close().catch(() => {});
    await deleteQueue(url, queue);
  }
}

// --- raw rabbitmq-client ---

/** Raw rabbitmq-client: `basicPublish` on a channel in confirm mode, `window` in flight. */
export async function rawRabbitmqClientPublish(url: string, opts: ThroughputOptions): Promise<number> {
  const queue = await prepareQueue(url, 'rmqc-pub');
  const rabbit = new RmqConnection({ url, retryLow: 100, retryHigh: 1000 });
  rabbit.on('error', () => {});
  const ch = await rabbit.acquire();
  try {
    await ch.confirmSelect();
    const body = randomBytes(opts.size ?? DEFAULT_SIZE);
    return await rate(opts.count, () =>
      pipelined(opts.count, opts.window ?? DEFAULT_WINDOW, () =>
        ch.basicPublish({ routingKey: queue, mandatory: true }, body),
      ),
    );
  } finally {
    // rabbitmq-client's close waits for every channel to be closed first.
    await ch.close().catch(() => {});
    await rabbit.close().catch(() => {});
    await deleteQueue(url, queue);
  }
}

/** Raw rabbitmq-client: `basicConsume` with manual `basicAck`. */
export async function rawRabbitmqClientConsume(url: string, opts: ThroughputOptions): Promise<number> {
  const queue = await prepareQueue(url, 'rmqc-sub', opts.count, opts.size);
  const rabbit = new RmqConnection({ url, retryLow: 100, retryHigh: 1000 });
  rabbit.on('error', () => {});
  const ch = await rabbit.acquire();
  try {
    await ch.basicQos({ prefetchCount: opts.prefetch ?? DEFAULT_PREFETCH });
    return await rate(
      opts.count,
      () =>
        new Promise<void>((resolve) => {
          let n = 0;
          void ch.basicConsume({ queue }, (msg) => {
            ch.basicAck({ deliveryTag: msg.deliveryTag });
            if (++n === opts.count) resolve();
          });
        }),
    );
  } finally {
    // rabbitmq-client's close waits for every channel to be closed first.
    await ch.close().catch(() => {});
    await rabbit.close().catch(() => {});
    await deleteQueue(url, queue);
  }
}

// --- the Transport (either backend) ---

/** `Transport.publish` (confirmed) to a queue through the default exchange, `window` in flight. */
export async function transportPublish(
  t: Transport,
  queue: string,
  opts: ThroughputOptions,
): Promise<number> {
  const body = randomBytes(opts.size ?? DEFAULT_SIZE);
  return rate(opts.count, () =>
    pipelined(opts.count, opts.window ?? DEFAULT_WINDOW, () =>
      t.publish({ exchange: '', routingKey: queue, body }),
    ),
  );
}

/** `Transport.consume` with an ack per delivery, until `count` were acked. */
export async function transportConsume(
  t: Transport,
  queue: string,
  opts: ThroughputOptions,
): Promise<number> {
  let consumer: { cancel(): Promise<void> } | undefined;
  const r = await rate(
    opts.count,
    () =>
      new Promise<void>((resolve, reject) => {
        let n = 0;
        t.consume(
          queue,
          (d) => {
            d.ack();
            if (++n === opts.count) resolve();
          },
          { prefetch: opts.prefetch ?? DEFAULT_PREFETCH },
        ).then((c) => {
          consumer = c;
        }, reject);
      }),
  );
  await consumer?.cancel();
  return r;
}

// --- embedded broker ---

export interface HandOff {
  perSecond: number;
  p99Ms: number;
}

/**
 * Publish-to-handler through the embedded broker, closed loop: at most `window` messages
 * published and not yet handled, so the latency is the hand-off, not a backlog.
 */
export async function embeddedHandOff(count: number, size = DEFAULT_SIZE, window = 64): Promise<HandOff> {
  const t = createEmbeddedTransport({ broker: new EmbeddedBroker() });
  try {
    await t.assertExchange('bench.events', 'topic', { durable: false });
    await t.assertQueue('bench.q', { durable: false });
    await t.bindQueue('bench.q', 'bench.events', 'bench.#');
    const body = randomBytes(size);
    const sentAt = new Float64Array(count);
    const lat = new Float64Array(count);
    const handled: (() => void)[] = new Array(count);
    await t.consume(
      'bench.q',
      (d) => {
        const i = d.body.readUInt32BE(0);
        lat[i] = performance.now() - sentAt[i]!;
        d.ack();
        handled[i]?.();
      },
      { prefetch: DEFAULT_PREFETCH },
    );
    const t0 = performance.now();
    await pipelined(count, window, async (i) => {
      const b = Buffer.from(body);
      b.writeUInt32BE(i, 0);
      const done = new Promise<void>((r) => {
        handled[i] = r;
      });
      sentAt[i] = performance.now();
      await t.publish({ exchange: 'bench.events', routingKey: 'bench.item.created', body: b });
      await done;
    });
    const perSecond = count / ((performance.now() - t0) / 1000);
    return { perSecond, p99Ms: p99(lat) };
  } finally {
    await t.close();
  }
}

/** The floor: an EventEmitter hand-off on the next turn (setImmediate), same bodies, same closed loop. */
export async function eventEmitterHandOff(count: number, size = DEFAULT_SIZE, window = 64): Promise<HandOff> {
  const ee = new EventEmitter();
  const body = randomBytes(size);
  const sentAt = new Float64Array(count);
  const lat = new Float64Array(count);
  const handled: (() => void)[] = new Array(count);
  ee.on('m', (b: Buffer) => {
    const i = b.readUInt32BE(0);
    lat[i] = performance.now() - sentAt[i]!;
    handled[i]?.();
  });
  const t0 = performance.now();
  await pipelined(count, window, async (i) => {
    const b = Buffer.from(body);
    b.writeUInt32BE(i, 0);
    const done = new Promise<void>((r) => {
      handled[i] = r;
    });
    sentAt[i] = performance.now();
    setImmediate(() => ee.emit('m', b));
    await done;
  });
  return { perSecond: count / ((performance.now() - t0) / 1000), p99Ms: p99(lat) };
}

function p99(values: Float64Array): number {
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0;
}

/**
 * Runs the contenders in turn, `runs` rounds, and keeps each one's best: load from
 * other work on the machine then hits all of them alike instead of whichever ran last.
 * Each round starts with the next contender (A B C, B C A, C A B, …), so none always
 * runs right after the same neighbour (a purge, a queue refill, a GC of its garbage).
 */
export async function interleaved(
  runs: number,
  contenders: Record<string, (warmup: boolean) => Promise<number>>,
): Promise<Record<string, number>> {
  const top: Record<string, number> = {};
  const entries = Object.entries(contenders);
  for (const [name, fn] of entries) {
    await fn(true);
    top[name] = 0;
  }
  for (let i = 0; i < runs; i++) {
    for (let j = 0; j < entries.length; j++) {
      const [name, fn] = entries[(i + j) % entries.length]!;
      top[name] = Math.max(top[name] ?? 0, await fn(false));
    }
  }
  return top;
}

export const suite: BenchSuite = async (ctx: BenchContext): Promise<BenchResult[]> => {
  const url = ctx.amqpUrl;
  const count = Math.max(2000, Math.round(20_000 * ctx.scale));
  const runs = ctx.scale < 1 ? 2 : 3;
  const out: BenchResult[] = [];
  const sized = (warmup: boolean) => ({ count: warmup ? Math.ceil(count / 10) : count });

  const t = await createRabbitMqTransport({ url });
  const pubQueue = benchQueueName('transport-pub');
  let pub: Record<string, number>;
  let sub: Record<string, number>;
  try {
    await t.assertQueue(pubQueue, { durable: false });
    pub = await interleaved(runs, {
      amqplib: (w) => rawAmqplibPublish(url, sized(w)),
      rabbitmqClient: (w) => rawRabbitmqClientPublish(url, sized(w)),
      transport: async (w) => {
        const r = await transportPublish(t, pubQueue, sized(w));
        await t.purgeQueue(pubQueue);
        return r;
      },
    });
    sub = await interleaved(runs, {
      amqplib: (w) => rawAmqplibConsume(url, sized(w)),
      rabbitmqClient: (w) => rawRabbitmqClientConsume(url, sized(w)),
      transport: async (w) => {
        const q = await prepareQueue(url, 'transport-sub', sized(w).count);
        try {
          return await transportConsume(t, q, sized(w));
        } finally {
          await deleteQueue(url, q);
        }
      },
    });
  } finally {
    await t.deleteQueue(pubQueue).catch(() => {});
    await t.close();
  }
  const v = (r: Record<string, number>, k: string) => r[k] ?? 0;
  ctx.log(
    `publish with confirms: amqplib ${v(pub, 'amqplib').toFixed(0)}/s, rabbitmq-client ${v(pub, 'rabbitmqClient').toFixed(0)}/s, transport ${v(pub, 'transport').toFixed(0)}/s; ` +
      `consume with ack: amqplib ${v(sub, 'amqplib').toFixed(0)}/s, rabbitmq-client ${v(sub, 'rabbitmqClient').toFixed(0)}/s, transport ${v(sub, 'transport').toFixed(0)}/s`,
  );
  out.push(
    result(
      'rabbitmq-client publish with confirms',
      v(pub, 'rabbitmqClient'),
      'msg/s',
      'amqplib publish with confirms',
      v(pub, 'amqplib'),
    ),
    result(
      'rabbitmq-client consume with ack',
      v(sub, 'rabbitmqClient'),
      'msg/s',
      'amqplib consume with ack',
      v(sub, 'amqplib'),
    ),
    result(
      'RabbitMQ transport publish with confirms',
      v(pub, 'transport'),
      'msg/s',
      'raw amqplib publish with confirms',
      v(pub, 'amqplib'),
    ),
    result(
      'RabbitMQ transport consume with ack',
      v(sub, 'transport'),
      'msg/s',
      'raw amqplib consume with ack',
      v(sub, 'amqplib'),
    ),
  );

  const embCount = Math.max(5000, Math.round(200_000 * ctx.scale));
  let emb: HandOff = { perSecond: 0, p99Ms: Number.POSITIVE_INFINITY };
  let ee: HandOff = { perSecond: 0, p99Ms: Number.POSITIVE_INFINITY };
  await embeddedHandOff(Math.ceil(embCount / 10));
  await eventEmitterHandOff(Math.ceil(embCount / 10));
  for (let i = 0; i < runs; i++) {
    const e = await embeddedHandOff(embCount);
    if (e.perSecond > emb.perSecond) emb = e;
    const r = await eventEmitterHandOff(embCount);
    if (r.perSecond > ee.perSecond) ee = r;
  }
  ctx.log(
    `embedded: ${emb.perSecond.toFixed(0)}/s p99 ${emb.p99Ms.toFixed(3)} ms; ` +
      `EventEmitter: ${ee.perSecond.toFixed(0)}/s p99 ${ee.p99Ms.toFixed(3)} ms`,
  );
  out.push(
    result(
      'embedded broker publish-to-handler',
      emb.perSecond,
      'msg/s',
      'EventEmitter hand-off',
      ee.perSecond,
    ),
    result(
      'embedded broker publish-to-handler p99 latency (lower is better)',
      emb.p99Ms,
      'ms',
      'EventEmitter hand-off p99',
      ee.p99Ms,
    ),
    result(
      'embedded broker publish-to-handler vs RabbitMQ publish with confirms',
      emb.perSecond,
      'msg/s',
      'raw amqplib publish with confirms',
      v(pub, 'amqplib'),
    ),
  );
  return out;
};
