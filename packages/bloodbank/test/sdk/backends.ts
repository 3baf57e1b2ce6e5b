// One factory for every shared suite: the embedded broker and the real RabbitMQ.
// Each test gets random exchange and queue names and removes what it declared.
import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import { dlqName, retryQueueName } from '../../src/topology/names.js';
import { DEFAULT_RETRY_TIERS_MS, type TopologyOptions } from '../../src/topology/options.js';
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

  /**
   * Every queue this test may have declared: a tool that declares with the default retry
   * tiers (the CLI's `topology apply`) makes those beside this topology's own.
   */
  allQueues(): string[] {
    const t = this.topology;
    const out = [t.unroutable, t.monitorQueue];
    const tiers = new Set([...this.tiers, ...DEFAULT_RETRY_TIERS_MS]);
    for (const q of this.#queues)
      out.push(q, dlqName(q), ...[...tiers].map((tier) => retryQueueName(q, tier)));
    return out;
  }

  async cleanup(backend: Backend['name'], transport?: Transport): Promise<void> {
    if (backend !== 'rabbitmq') return;
    const t = this.topology;
    await deleteTestTopology(this.prefix, this.allQueues(), [t.exchange, t.dlx, t.unroutable]);
    void transport;
  }
}

/**
 * Deletes a test's queues and exchanges from the test broker: the names given, and every
 * queue and exchange whose name starts with `<prefix>.` that the management API lists (what a
 * part under test declared by itself: retry tiers, dead-letter, unroutable and monitor queues).
 * Missing ones are fine; without the management API the names given are all there is.
 */
export async function deleteTestTopology(
  prefix: string,
  queues: readonly string[],
  exchanges: readonly string[],
  amqpUrl: string = AMQP_TEST_URL,
): Promise<void> {
  const q = new Set(queues);
  const x = new Set(exchanges);
  const u = new URL(amqpUrl);
  const auth = `Basic ${Buffer.from(`${decodeURIComponent(u.username || 'guest')}:${decodeURIComponent(u.password || 'guest')}`).toString('base64')}`;
  for (const [kind, into] of [
    ['queues', q],
    ['exchanges', x],
  ] as const) {
    try {
      const res = await fetch(`http://${u.hostname}:15672/api/${kind}/%2F?columns=name`, {
        headers: { authorization: auth },
        signal: AbortSignal.timeout(3000),
      });
      if (!res.ok) continue;
      for (const { name } of (await res.json()) as { name: string }[]) {
        if (name.startsWith(`${prefix}.`)) into.add(name);
      }
    } catch {
      // no management API: the names given
    }
  }
  const conn = await amqp.connect(amqpUrl);
  conn.on('error', () => {});
  try {
    // A channel per deletion: a refused one closes its channel, not the rest of the cleanup.
    for (const name of q) {
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      await ch.deleteQueue(name).catch(() => {});
      await ch.close().catch(() => {});
    }
    for (const name of x) {
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      await ch.deleteExchange(name).catch(() => {});
      await ch.close().catch(() => {});
    }
  } finally {
    await conn.close().catch(() => {});
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
