import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import amqplib from 'amqplib';
import { Connection as RmqConnection } from 'rabbitmq-client';
export interface ThroughputOptions {
  count: number;
  size?: number;
  window?: number;
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
  const conn = await amqplib.connect(url);
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
  const conn = await amqplib.connect(url);
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
  try {
    const ch = await rabbit.acquire();
    await ch.confirmSelect();
    const body = randomBytes(opts.size ?? DEFAULT_SIZE);
    return await rate(opts.count, () =>
      pipelined(opts.count, opts.window ?? DEFAULT_WINDOW, () =>
        ch.basicPublish({ routingKey: queue, mandatory: true }, body),
      ),
    );
  } finally {
    await rabbit.close().catch(() => {});
    await deleteQueue(url, queue);
  }
}

/** Raw rabbitmq-client: `basicConsume` with manual `basicAck`. */
export async function rawRabbitmqClientConsume(url: string, opts: ThroughputOptions): Promise<number> {
  const queue = await prepareQueue(url, 'rmqc-sub', opts.count, opts.size);
  const rabbit = new RmqConnection({ url, retryLow: 100, retryHigh: 1000 });
  rabbit.on('error', () => {});
  try {
    const ch = await rabbit.acquire();
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
    await rabbit.close().catch(() => {});
    await deleteQueue(url, queue);
  }
}

async function main() {
  const url = 'amqp://guest:guest@127.0.0.1:5672';
  for (const w of [64, 256, 1024]) {
    for (let r = 0; r < 2; r++) {
      const o = { count: 20000, window: w };
      console.log(
        'w',
        w,
        'amqplib pub',
        (await rawAmqplibPublish(url, o)).toFixed(0),
        'rmqc pub',
        (await rawRabbitmqClientPublish(url, o)).toFixed(0),
      );
    }
  }
  for (let r = 0; r < 3; r++) {
    const o = { count: 20000 };
    console.log(
      'amqplib sub',
      (await rawAmqplibConsume(url, o)).toFixed(0),
      'rmqc sub',
      (await rawRabbitmqClientConsume(url, o)).toFixed(0),
    );
  }
}
main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
