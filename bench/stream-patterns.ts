// Live-stream pattern matching: the store's CPU per event with 50 sockets each holding a
// different wildcard pattern at 1,000 events/s, beside the same run with 50 sockets on `#`.
// Every pattern matches every event, so both runs send the same frames and differ only in
// the matching. The store runs as its own process (`candystore serve`, as deployed) and its
// CPU is read from /proc; events go straight to the exchange, with no gateway in between.
// The run's database and everything it declared on the broker are removed at the end.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRabbitMqTransport, type Transport } from '@33god/bloodbank';
import { completeEnvelope, envelopeAmqpProperties, isValidPattern, topicMatches } from '@33god/core';
import pg from 'pg';
import WebSocket from 'ws';
import { cleanBroker } from './e2e/broker.js';
import { type Child, reachable, startPart, stopChild, waitFor } from './e2e/procs.js';
import { type BenchContext, type BenchResult, result } from './types.js';

const SOCKETS = 50;
const PER_SECOND = 1000;
const ROUNDS = 4;
const KINDS = 10;
const eventType = (i: number) => `bench.stream.kind${i % KINDS}`;

/**
 * 50 different patterns of five words of `bench`, `stream`, `*` and `#` (the last ones in
 * enumeration order, `#.bench.stream.*.#` to `#.#.#.#.#`) that hold a wildcard and match every
 * event type of the run.
 */
function wildcardPatterns(): string[] {
  const types = Array.from({ length: KINDS }, (_, i) => eventType(i));
  const all: string[] = [];
  let level = [''];
  for (let n = 1; n <= 5; n++) {
    level = level.flatMap((prefix) =>
      ['bench', 'stream', '*', '#'].map((w) => (prefix === '' ? w : `${prefix}.${w}`)),
    );
    for (const p of level) {
      const wild = p.includes('*') || p.includes('#');
      if (p !== '#' && wild && isValidPattern(p) && types.every((t) => topicMatches(p, t))) all.push(p);
    }
  }
  return all.slice(-SOCKETS);
}

/** CPU seconds (user + system) of one process so far, from /proc/<pid>/stat. */
function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // utime and stime are fields 14 and 15; the command (field 2) may hold spaces
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** A live-stream client that counts the events it receives, without parsing them. */
class CountingSocket {
  readonly ws: WebSocket;
  received = 0;
  error: Error | null = null;
  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('message', (data) => {
      const text = String(data);
      for (let at = text.indexOf('"kind":"event"'); at !== -1; at = text.indexOf('"kind":"event"', at + 1)) {
        this.received++;
      }
    });
    this.ws.on('error', (err) => {
      this.error = err;
    });
  }
  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.ws.readyState === WebSocket.OPEN) return resolve();
      this.ws.once('open', () => resolve());
      this.ws.once('close', () =>
        reject(new Error(`stream socket closed before it opened: ${this.error?.message ?? 'no error'}`)),
      );
    });
  }
}

export async function suite(ctx: BenchContext): Promise<BenchResult[]> {
  const id = randomBytes(4).toString('hex');
  const prefix = `bench.sp${id}`;
  const exchange = `${prefix}.events`;
  const dlx = `${prefix}.dlx`;
  const queue = `${prefix}.candystore`;
  const dbName = `bench_stream_${id}`;
  const dbUrl = new URL(ctx.databaseUrl);
  dbUrl.pathname = `/${dbName}`;
  const perRound = Math.max(1000, Math.round(3000 * ctx.scale));
  const patterns = wildcardPatterns();
  if (patterns.length !== SOCKETS || new Set(patterns).size !== SOCKETS) {
    throw new Error(`expected ${SOCKETS} different wildcard patterns, got ${patterns.length}`);
  }

  const admin = new pg.Client({ connectionString: ctx.databaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  let store: Child | undefined;
  let transport: Transport | null = null;
  let sockets: CountingSocket[] = [];
  let published = 0;
  const publish = async (count: number): Promise<void> => {
    // paced in 10 ms ticks against the clock, so the rate holds however long a tick takes
    const t0 = performance.now();
    const inflight = new Set<Promise<void>>();
    for (let i = 0; i < count; i++) {
      const due = t0 + (i * 1000) / PER_SECOND;
      const wait = due - performance.now();
      if (wait > 10) await new Promise((r) => setTimeout(r, wait));
      const e = completeEnvelope(
        { event_type: eventType(published), payload: { n: published, note: 'x'.repeat(64) } },
        { app: 'bench', host: 'bench' },
      );
      published++;
      const pr = transport!
        .publish({
          exchange,
          routingKey: e.event_type,
          body: Buffer.from(JSON.stringify(e)),
          properties: envelopeAmqpProperties(e),
        })
        .finally(() => inflight.delete(pr));
      inflight.add(pr);
    }
    await Promise.all(inflight);
  };
  const closeSockets = async () => {
    await Promise.all(
      sockets.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.ws.readyState === WebSocket.CLOSED) return resolve();
            s.ws.once('close', () => resolve());
            s.ws.close();
          }),
      ),
    );
    sockets = [];
  };

  /** One round: 50 sockets on `socketPatterns`, `perRound` events; the store's µs of CPU per event. */
  const round = async (socketPatterns: string[]): Promise<number> => {
    const base = `${store!.url.replace(/^http/, 'ws')}/stream`;
    sockets = socketPatterns.map(
      (p) => new CountingSocket(`${base}?type=${encodeURIComponent(p)}&from=now&batch=true`),
    );
    try {
      await Promise.all(sockets.map((s) => s.opened()));
      // The sessions register with the store's tail after the upgrade: warm up until every
      // socket has an event, then until nothing more arrives.
      await waitFor(
        'an event on every stream socket',
        20_000,
        async () => {
          await publish(20);
          return sockets.every((s) => s.received > 0) ? true : undefined;
        },
        0,
      );
      let last = -1;
      await waitFor(
        'the warm-up events to settle',
        20_000,
        async () => {
          const now = sockets.reduce((sum, s) => sum + s.received, 0);
          const settled = now === last;
          last = now;
          return settled ? true : undefined;
        },
        300,
      );
      const start = sockets.map((s) => s.received);
      const cpu0 = processCpuSeconds(store!.pid);
      const t0 = performance.now();
      await publish(perRound);
      const publishSeconds = (performance.now() - t0) / 1000;
      await waitFor(
        `${perRound} events on every stream socket`,
        60_000,
        async () => (sockets.every((s, i) => s.received - start[i]! >= perRound) ? true : undefined),
        5,
      );
      const cpu = processCpuSeconds(store!.pid) - cpu0;
      const seconds = (performance.now() - t0) / 1000;
      const extra = sockets.reduce((n, s, i) => n + (s.received - start[i]! - perRound), 0);
      if (extra !== 0) throw new Error(`the sockets received ${extra} events more than were published`);
      const perEvent = (cpu * 1e6) / perRound;
      ctx.log(
        `  ${socketPatterns[0] === '#' ? '#        ' : 'wildcards'}: ${perRound} events in ${seconds.toFixed(2)} s (published in ${publishSeconds.toFixed(2)} s) to ${SOCKETS} sockets, store ${perEvent.toFixed(1)} µs CPU/event (${(cpu / seconds).toFixed(2)} of a core)`,
      );
      return perEvent;
    } finally {
      await closeSockets();
    }
  };

  try {
    await reachable([ctx.amqpUrl, ctx.databaseUrl]);
    store = await startPart(
      'store',
      'candystore',
      {
        AMQP_URL: ctx.amqpUrl,
        BLOODBANK_EXCHANGE: exchange,
        BLOODBANK_DLX: dlx,
        DATABASE_URL: dbUrl.toString(),
        CANDYSTORE_PORT: '0',
        CANDYSTORE_HOST: '127.0.0.1',
        CANDYSTORE_QUEUE: queue,
        // its batch summaries would match some patterns and not `bench.#`
        CANDYSTORE_PUBLISH_PERSISTED: 'false',
        // the 50 sockets come from one address
        CANDYSTORE_STREAM_MAX_PER_CLIENT: String(SOCKETS),
      },
      ctx.log,
    );
    transport = await createRabbitMqTransport({ url: ctx.amqpUrl });
    ctx.log(`${SOCKETS} patterns, from ${patterns[0]} to ${patterns.at(-1)}`);
    const hash = Array.from({ length: SOCKETS }, () => '#');
    const sum = { wild: 0, hash: 0 };
    for (let r = 1; r <= ROUNDS; r++) {
      ctx.log(`round ${r}:`);
      // in the order A B B A, so neither always runs first on a warmer store
      if (r % 4 === 1 || r % 4 === 0) {
        sum.hash += await round(hash);
        sum.wild += await round(patterns);
      } else {
        sum.wild += await round(patterns);
        sum.hash += await round(hash);
      }
    }
    return [
      result(
        `live stream: store CPU per event, ${SOCKETS} sockets on ${SOCKETS} different wildcard patterns at ${PER_SECOND} ev/s, target ≤ 1.5 × (µs, mean of ${ROUNDS} interleaved rounds, lower is better)`,
        sum.wild / ROUNDS,
        'µs',
        `the same with ${SOCKETS} sockets on #`,
        sum.hash / ROUNDS,
      ),
    ];
  } finally {
    await closeSockets();
    await transport?.close().catch(() => {});
    await stopChild(store);
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
    await admin.end().catch(() => {});
    await cleanBroker(ctx.amqpUrl, prefix, [
      queue,
      `${queue}.dlq`,
      exchange,
      dlx,
      `${exchange}.unroutable`,
      `${dlx}.monitor`,
    ]).catch((err: Error) => ctx.log(`warning: broker clean-up: ${err.message}`));
  }
}
