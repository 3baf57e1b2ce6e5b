/**
 * Push subscriptions: events taken from a RabbitMQ queue and POSTed, signed, as structured
 * CloudEvents to a local endpoint answering 204 at once, at concurrency 16 (the whole SDK
 * consume path: decode, retry and dead-letter middleware, ack). The reference, in the same
 * run against the same endpoint: a bare POST loop with the same HTTP client
 * (`PushHttpClient`: node:http, keep-alive) at concurrency 16, sending a prepared body of
 * the same size. The endpoint runs in a child process, so it does not share the worker's
 * event loop; rounds alternate and the best of each is kept. A third reference says what the
 * machine allows through RabbitMQ at all: amqplib alone consuming a queue of the same bodies
 * (same prefetch) and POSTing each with the same client, no SDK, no signing, no push code.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import {
  applyPlan,
  connect,
  createEmbeddedTransport,
  createRabbitMqTransport,
  dlqName,
  EmbeddedBroker,
  planExchanges,
  planQueue,
  resolveTopologyOptions,
  retryQueueName,
  startPushService,
  type Transport,
} from '@33god/bloodbank';
import { PushHttpClient } from '@33god/bloodbank/internal';
import { completeEnvelope, envelopeToCloudEvent } from '@33god/core';
import amqplib from 'amqplib';
import { type BenchContext, type BenchResult, type BenchSuite, result } from './types.js';

const CONCURRENCY = 16;
const ROUNDS = 3;
const here = dirname(fileURLToPath(import.meta.url));
const SILENT = { info() {}, warn() {}, error() {} };

async function startEndpoint(): Promise<{ url: URL; child: ChildProcess }> {
  const child = spawn(process.execPath, [join(here, '_push-receiver.mjs')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()));
    child.once('error', reject);
  });
  return { url: new URL(`http://127.0.0.1:${port}/hook`), child };
}

function payload(i: number) {
  return { i, sku: `sku-${i}`, note: 'x'.repeat(200) };
}

interface Round {
  /** Events (or requests) per second. */
  rate: number;
  /** CPU of this process per event, µs (user + system). */
  cpuUs: number;
}

function cpuSince(start: NodeJS.CpuUsage, count: number): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / count;
}

/** Bare POSTs through the worker's client, `CONCURRENCY` in flight. */
async function bareLoop(url: URL, count: number): Promise<Round> {
  const client = new PushHttpClient(url, { maxSockets: CONCURRENCY, timeoutMs: 10_000 });
  const env = completeEnvelope({ event_type: 'bench.push.sent', payload: payload(0) }, { app: 'bench' });
  const body = Buffer.from(JSON.stringify(envelopeToCloudEvent(env)));
  const headers = { 'content-type': 'application/cloudevents+json' };
  let next = 0;
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        next++;
        const a = await client.post(headers, body);
        if (a.status !== 204) throw new Error(`endpoint answered ${a.status}`);
      }
    }),
  );
  const rate = count / ((performance.now() - t0) / 1000);
  const cpuUs = cpuSince(cpu, count);
  client.close();
  return { rate, cpuUs };
}

/** Fills the queue, then times the push worker draining it to the endpoint. */
async function pushRound(transport: Transport, url: URL, count: number, prefix: string): Promise<Round> {
  const topology = resolveTopologyOptions(
    { exchange: `${prefix}.events`, dlx: `${prefix}.dlx`, monitorQueue: false },
    {},
  );
  const queue = `${prefix}.push`;
  await applyPlan(transport, planExchanges(topology));
  await applyPlan(transport, planQueue(queue, ['bench.#'], topology));
  const bus = await connect({ app: 'bench', transport, topology, env: {} });
  const secret = randomBytes(32).toString('base64');
  const envelopes = Array.from({ length: count }, (_, i) =>
    completeEnvelope({ event_type: 'bench.push.sent', payload: payload(i) }, { app: 'bench' }),
  );
  for (let i = 0; i < count; i += 256)
    await Promise.all(envelopes.slice(i, i + 256).map((e) => bus.publishEnvelope(e)));
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  const service = await startPushService({
    transport,
    registry: {
      services: [
        {
          id: 'bench',
          queues: [queue],
          routingKeys: ['bench.#'],
          push: { url: url.href, concurrency: CONCURRENCY, secretEnv: 'BENCH_SECRET' },
        },
      ],
    },
    topology,
    env: { BENCH_SECRET: secret },
    logger: SILENT,
  });
  for (;;) {
    const s = service.status()[0]!;
    if (s.delivered + s.failed + s.rejected >= count) break;
    await new Promise((r) => setTimeout(r, 2));
  }
  const rate = count / ((performance.now() - t0) / 1000);
  const cpuUs = cpuSince(cpu, count);
  const s = service.status()[0]!;
  await service.stop();
  await bus.close();
  if (s.failed + s.rejected > 0) throw new Error(`${s.failed + s.rejected} deliveries failed`);
  return { rate, cpuUs };
}

/**
 * amqplib alone: the queue filled with prepared CloudEvent bodies, then consumed with the push
 * worker's prefetch (2 × the concurrency) and each body POSTed, at most `CONCURRENCY` at once,
 * acked on the 204. What is left of the bare loop's rate here is what RabbitMQ on this machine
 * leaves to any client.
 */
async function rawRound(amqpUrl: string, url: URL, count: number, queue: string): Promise<Round> {
  const conn = await amqplib.connect(amqpUrl);
  const client = new PushHttpClient(url, { maxSockets: CONCURRENCY, timeoutMs: 10_000 });
  try {
    const pub = await conn.createConfirmChannel();
    await pub.assertQueue(queue, { durable: true });
    const env = completeEnvelope({ event_type: 'bench.push.sent', payload: payload(0) }, { app: 'bench' });
    const body = Buffer.from(JSON.stringify(envelopeToCloudEvent(env)));
    for (let i = 0; i < count; i++) pub.sendToQueue(queue, body, { persistent: true });
    await pub.waitForConfirms();
    await pub.close();
    const ch = await conn.createChannel();
    await ch.prefetch(CONCURRENCY * 2);
    const headers = { 'content-type': 'application/cloudevents+json' };
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const waiting: amqplib.ConsumeMessage[] = [];
      let inFlight = 0;
      let done = 0;
      const post = (m: amqplib.ConsumeMessage): void => {
        inFlight++;
        client.post(headers, m.content).then((a) => {
          if (a.status !== 204) return reject(new Error(`endpoint answered ${a.status}`));
          ch.ack(m);
          inFlight--;
          if (++done === count) return resolve();
          const next = waiting.shift();
          if (next) post(next);
        }, reject);
      };
      ch.consume(queue, (m) => {
        if (!m) return;
        if (inFlight < CONCURRENCY) post(m);
        else waiting.push(m);
      }).catch(reject);
    });
    const rate = count / ((performance.now() - t0) / 1000);
    const cpuUs = cpuSince(cpu, count);
    await ch.deleteQueue(queue);
    await ch.close();
    return { rate, cpuUs };
  } finally {
    client.close();
    await conn.close();
  }
}

async function cleanup(amqpUrl: string, prefixes: string[]): Promise<void> {
  const conn = await amqplib.connect(amqpUrl);
  try {
    const ch = await conn.createChannel();
    for (const p of prefixes) {
      const q = `${p}.push`;
      const tiers = resolveTopologyOptions({}, {}).retryTiersMs.map((t) => retryQueueName(q, t));
      for (const name of [q, dlqName(q), ...tiers, `${p}.events.unroutable`, `${p}.raw`])
        await ch.deleteQueue(name);
      for (const ex of [`${p}.events`, `${p}.dlx`, `${p}.events.unroutable`]) await ch.deleteExchange(ex);
    }
    await ch.close();
  } finally {
    await conn.close();
  }
}

export const suite: BenchSuite = async (ctx: BenchContext): Promise<BenchResult[]> => {
  const count = Math.max(2000, Math.round(20_000 * ctx.scale));
  const { url, child } = await startEndpoint();
  const rabbit = await createRabbitMqTransport({ url: ctx.amqpUrl });
  const embedded = createEmbeddedTransport({ broker: new EmbeddedBroker() });
  const prefixes: string[] = [];
  const best = { rabbit: 0, embedded: 0, bare: 0, raw: 0 };
  const cpu = { rabbit: [] as number[], embedded: [] as number[], bare: [] as number[] };
  try {
    await bareLoop(url, Math.min(2000, count)); // warm-up: connections and JIT
    for (let r = 0; r < ROUNDS; r++) {
      const bare = await bareLoop(url, count);
      const prefix = `bench.push.${randomBytes(4).toString('hex')}`;
      prefixes.push(prefix);
      const viaRabbit = await pushRound(rabbit, url, count, prefix);
      const viaEmbedded = await pushRound(embedded, url, count, `${prefix}.embedded`);
      const raw = await rawRound(ctx.amqpUrl, url, count, `${prefix}.raw`);
      ctx.log(
        `round ${r + 1}: push via RabbitMQ ${Math.round(viaRabbit.rate)} events/s (${Math.round(viaRabbit.cpuUs)} µs CPU each), via the embedded broker ${Math.round(viaEmbedded.rate)} events/s (${Math.round(viaEmbedded.cpuUs)} µs), bare POST ${Math.round(bare.rate)} requests/s (${Math.round(bare.cpuUs)} µs), raw amqplib consume + POST ${Math.round(raw.rate)} events/s (${Math.round(raw.cpuUs)} µs)`,
      );
      best.raw = Math.max(best.raw, raw.rate);
      best.rabbit = Math.max(best.rabbit, viaRabbit.rate);
      best.embedded = Math.max(best.embedded, viaEmbedded.rate);
      best.bare = Math.max(best.bare, bare.rate);
      cpu.rabbit.push(viaRabbit.cpuUs);
      cpu.embedded.push(viaEmbedded.cpuUs);
      cpu.bare.push(bare.cpuUs);
    }
  } finally {
    await rabbit.close();
    await embedded.close();
    await cleanup(ctx.amqpUrl, prefixes).catch((err) => ctx.log(`cleanup failed: ${String(err)}`));
    child.kill('SIGTERM');
  }
  const reference = `bare POST loop, same client, concurrency ${CONCURRENCY}`;
  return [
    result(
      `push delivery via RabbitMQ (signed CloudEvent POST, concurrency ${CONCURRENCY}, ${count} events)`,
      Math.round(best.rabbit),
      'events/s',
      reference,
      Math.round(best.bare),
    ),
    result(
      'push delivery via RabbitMQ, against what amqplib alone gets through RabbitMQ here',
      Math.round(best.rabbit),
      'events/s',
      `raw amqplib consume (prefetch ${CONCURRENCY * 2}) + the same POST, no SDK, no signing`,
      Math.round(best.raw),
    ),
    result(
      'raw amqplib consume + POST through RabbitMQ: the ceiling this machine leaves (target 0.8 applies to push)',
      Math.round(best.raw),
      'events/s',
      reference,
      Math.round(best.bare),
    ),
    result(
      `push delivery via the embedded broker (same, in-process queue)`,
      Math.round(best.embedded),
      'events/s',
      reference,
      Math.round(best.bare),
    ),
    result(
      'worker CPU per push delivery via RabbitMQ (µs, lower is better; the broker runs elsewhere)',
      Math.round(Math.min(...cpu.rabbit)),
      'µs',
      'bare POST loop CPU per request',
      Math.round(Math.min(...cpu.bare)),
    ),
    result(
      'worker CPU per push delivery via the embedded broker (µs, lower is better; broker included)',
      Math.round(Math.min(...cpu.embedded)),
      'µs',
      'bare POST loop CPU per request',
      Math.round(Math.min(...cpu.bare)),
    ),
  ];
};
