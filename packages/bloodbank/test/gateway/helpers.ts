import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Gateway, type GatewayOptions, startGateway } from '../../src/gateway/server.js';
import {
  createEmbeddedTransport,
  createRabbitMqTransport,
  EmbeddedBroker,
} from '../../src/transport/index.js';
import type { Delivery, Transport } from '../../src/transport/transport.js';

export const AMQP_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const SCHEMAS_DIR = resolve(import.meta.dirname, '../../../../schemas');
export const FIXTURE_TREE = '/work/shared/fixtures/holyfields-v1';

export const rand = (): string => randomBytes(5).toString('hex');

export interface Backend {
  name: 'embedded' | 'rabbitmq';
  transport(): Promise<Transport>;
}

export const embedded: Backend = {
  name: 'embedded',
  // A broker per test: nothing shared with other tests in the process.
  transport: async () => createEmbeddedTransport({ broker: new EmbeddedBroker() }),
};

export const rabbitmq: Backend = {
  name: 'rabbitmq',
  transport: () => createRabbitMqTransport({ url: AMQP_URL }),
};

export const backends: Backend[] = [embedded, rabbitmq];

/** A queue bound `#` on the test's exchange, declared before anything is published. */
export class ReadBack {
  readonly queue = `test.${rand()}.readback`;
  readonly #got: Delivery[] = [];
  #waiters: (() => void)[] = [];
  #cancel: (() => Promise<void>) | null = null;

  constructor(
    readonly transport: Transport,
    readonly exchange: string,
  ) {}

  async start(): Promise<this> {
    await this.transport.assertExchange(this.exchange, 'topic', { durable: false });
    await this.transport.assertQueue(this.queue, { durable: false });
    await this.transport.bindQueue(this.queue, this.exchange, '#');
    const consumer = await this.transport.consume(
      this.queue,
      (d) => {
        d.ack();
        this.#got.push(d);
        for (const w of this.#waiters.splice(0)) w();
      },
      { prefetch: 500 },
    );
    this.#cancel = () => consumer.cancel();
    return this;
  }

  get received(): readonly Delivery[] {
    return this.#got;
  }

  /** Resolves with the first `n` deliveries, or rejects after `timeoutMs`. */
  async take(n: number, timeoutMs = 5000): Promise<Delivery[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.#got.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${n} events, got ${this.#got.length}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.#got.slice(0, n);
  }

  /** Waits a little and returns how many arrived: for "nothing was published" checks after a marker. */
  async settle(ms = 150): Promise<number> {
    await new Promise((r) => setTimeout(r, ms));
    return this.#got.length;
  }

  async close(): Promise<void> {
    await this.#cancel?.().catch(() => {});
    await this.transport.deleteQueue(this.queue).catch(() => {});
  }
}

export const json = (d: Delivery): Record<string, unknown> => JSON.parse(d.body.toString('utf8'));

export interface Harness {
  gateway: Gateway;
  transport: Transport;
  readBack: ReadBack;
  exchange: string;
  url: string;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

/** A gateway on port 0 with its own exchange, plus a read-back queue on it. */
export async function harness(backend: Backend, options: GatewayOptions = {}): Promise<Harness> {
  const transport = await backend.transport();
  const exchange = `test.${rand()}.events`;
  const readBack = await new ReadBack(transport, exchange).start();
  const gateway = await startGateway({
    port: 0,
    transport,
    exchange,
    // The test's own dead-letter exchange: the default's (bloodbank.dlx and its monitor queue)
    // would be declared on the shared broker and outlive the test.
    dlx: `${exchange}.dlx`,
    schemasDir: SCHEMAS_DIR,
    registryPath: null,
    healthIntervalMs: 0,
    watchSchemas: false,
    logLevel: 'silent',
    ...options,
  });
  return {
    gateway,
    transport,
    readBack,
    exchange,
    url: gateway.url,
    post: (path, body, headers = {}) =>
      fetch(`${gateway.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    async close() {
      await gateway.close();
      // A test that closed the transport (the broker gone) still leaves nothing on the broker.
      const cleaner = transport.state === 'closed' ? await backend.transport() : transport;
      await readBack.close();
      await cleaner.deleteQueue(readBack.queue).catch(() => {});
      await cleaner.deleteExchange(exchange).catch(() => {});
      // the alternate exchange and queue the gateway declared beside it
      await cleaner.deleteQueue(`${exchange}.unroutable`).catch(() => {});
      await cleaner.deleteExchange(`${exchange}.unroutable`).catch(() => {});
      // the dead-letter exchange and the monitor's queue on it
      await cleaner.deleteQueue(`${exchange}.dlx.monitor`).catch(() => {});
      await cleaner.deleteExchange(`${exchange}.dlx`).catch(() => {});
      await cleaner.close();
      if (cleaner !== transport) await transport.close().catch(() => {});
    },
  };
}

/** A registry file granting services their produces lists. */
export function registryFile(
  services: Record<string, string[]>,
  queues: Record<string, string> = {},
): string {
  const dir = mkdtempSync(join(tmpdir(), 'bb-registry-'));
  const lines = [
    'version: "1.0"',
    'exchange:',
    '  name: "x"',
    '  type: "topic"',
    '  durable: true',
    'services:',
  ];
  for (const [id, produces] of Object.entries(services)) {
    lines.push(`  ${id}:`, `    name: "${id}"`);
    if (queues[id])
      lines.push(`    queue_name: "${queues[id]}"`, '    routing_keys:', '      - "none.such.key"');
    lines.push('    produces:');
    for (const p of produces) lines.push(`      - "${p}"`);
  }
  const path = join(dir, 'registry.yaml');
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

/** Asserts a problem+json answer with this status and code; returns the document. */
export async function expectProblem(
  res: Response,
  status: number,
  code: string,
): Promise<{ code: string; detail?: string; errors?: { pointer: string; message: string }[] }> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
  const doc = JSON.parse(text);
  assert.equal(doc.code, code, text);
  return doc;
}

/**
 * A request with exactly these headers: fetch replaces `Host` with the URL's, and the Host
 * check is what a DNS-rebinding page would meet.
 */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
        }
        resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 0, headers }));
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}
