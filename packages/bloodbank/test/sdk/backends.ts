// One factory for every shared suite: the embedded broker and the real RabbitMQ.
// Each test gets random exchange and queue names and removes what it declared.
import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import { dlqName, retryQueueName } from '../../src/topology/names.js';
import type { TopologyOptions } from '../../src/topology/options.js';
import { EmbeddedBroker } from '../../src/transport/embedded/broker.js';
import { createEmbeddedTransport } from '../../src/transport/embedded/transport.js';
import * as transports from '../../src/transport/index.js';
import type { Transport } from '../../src/transport/transport.js';

export const AMQP_TEST_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

export interface Backend {
  readonly name: 'embedded' | 'rabbitmq';
  /** A new transport; every transport of one test shares one broker. */
  transport(): Promise<Transport>;
}

type RabbitFactory = (options: { url: string }) => Transport | Promise<Transport>;

function rabbitFactory(): RabbitFactory | undefined {
  const mod = transports as unknown as Record<string, unknown>;
  const f = mod.createRabbitMqTransport ?? mod.createRabbitTransport;
  return typeof f === 'function' ? (f as RabbitFactory) : undefined;
}

export function backends(): Backend[] {
  const out: Backend[] = [];
  out.push({
    name: 'embedded',
    transport: (() => {
      let broker: EmbeddedBroker | undefined;
      return async () => {
        broker ??= new EmbeddedBroker();
        return createEmbeddedTransport({ broker });
      };
    })(),
  });
  const rabbit = rabbitFactory();
  if (rabbit) out.push({ name: 'rabbitmq', transport: async () => rabbit({ url: AMQP_TEST_URL }) });
  return out;
}

/** Each call returns a factory bound to a fresh embedded broker (per test isolation). */
export function freshBackends(): Backend[] {
  return backends().map((b) =>
    b.name === 'embedded'
      ? {
          name: 'embedded',
          transport: (() => {
            const broker = new EmbeddedBroker();
            return async () => createEmbeddedTransport({ broker });
          })(),
        }
      : b,
  );
}

/** Random names for one test, and a cleanup that removes them from the broker. */
export class TestNames {
  readonly prefix = `test.${randomBytes(5).toString('hex')}`;
  readonly tiers = [50, 200, 1000];
  readonly #queues = new Set<string>();

  get topology(): TopologyOptions & {
    exchange: string;
    dlx: string;
    unroutable: string;
    monitorQueue: string;
  } {
    return {
      exchange: `${this.prefix}.events`,
      dlx: `${this.prefix}.dlx`,
      unroutable: `${this.prefix}.events.unroutable`,
      monitorQueue: `${this.prefix}.dlx.monitor`,
      retryTiersMs: this.tiers,
      messageTtlMs: 60_000,
    };
  }

  /** A queue name under this test's prefix; its dlq and retry queues are cleaned up too. */
  queue(name: string): string {
    const q = `${this.prefix}.${name}`;
    this.#queues.add(q);
    return q;
  }

  allQueues(): string[] {
    const t = this.topology;
    const out = [t.unroutable, t.monitorQueue];
    for (const q of this.#queues)
      out.push(q, dlqName(q), ...this.tiers.map((tier) => retryQueueName(q, tier)));
    return out;
  }

  async cleanup(backend: Backend['name'], transport?: Transport): Promise<void> {
    if (backend !== 'rabbitmq') return;
    const conn = await amqp.connect(AMQP_TEST_URL);
    try {
      const ch = await conn.createChannel();
      for (const q of this.allQueues()) await ch.deleteQueue(q);
      const t = this.topology;
      for (const ex of [t.exchange, t.dlx, t.unroutable]) await ch.deleteExchange(ex);
      await ch.close();
    } finally {
      await conn.close();
    }
    void transport;
  }
}

export async function waitFor<T>(
  probe: () => T | Promise<T>,
  what: string,
  timeoutMs = 10_000,
): Promise<Exclude<NonNullable<T>, false>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v as Exclude<NonNullable<T>, false>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
