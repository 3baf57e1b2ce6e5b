// Child process of bench/gateway.ts: runs the gateway (or a no-op Fastify POST route) alone,
// so its RSS and CPU are its own. Plain JavaScript on the compiled packages (`npm run build`),
// so the figure is the gateway's own memory, not a TypeScript loader's.
// Modes: `noop`, `gateway` (tokens off), `gateway-auth` (tokens on: a `publish` token of the
// service `bench`, whose registry entry produces test.event.created; the token is BENCH_TOKEN).
// Prints `{"url": ...}` once listening; stops on SIGTERM.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway } from '@33god/bloodbank';
import { accessConfigFromEnv } from '@33god/core';
import Fastify from 'fastify';

const [mode, amqpUrl, exchange] = process.argv.slice(2);

function benchRegistry() {
  const path = join(mkdtempSync(join(tmpdir(), 'bench-registry-')), 'registry.yaml');
  writeFileSync(
    path,
    [
      'version: "1.0"',
      'exchange: { name: "x", type: "topic", durable: true }',
      'services:',
      '  bench:',
      '    name: "bench"',
      '    produces: ["test.event.created"]',
      '',
    ].join('\n'),
  );
  return path;
}

const auth =
  mode === 'gateway-auth'
    ? {
        access: accessConfigFromEnv({ AUTH_TOKENS: `${process.env.BENCH_TOKEN}=bench:publish` }),
        registryPath: benchRegistry(),
      }
    : { registryPath: null };

if (mode === 'noop') {
  const app = Fastify({ logger: false });
  app.post('/noop', async (_request, reply) => {
    reply.code(202);
    return { ok: true };
  });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  console.log(JSON.stringify({ url: address }));
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
} else {
  const gateway = await startGateway({
    port: 0,
    host: '127.0.0.1',
    amqpUrl,
    exchange,
    // Its own dead-letter exchange (and monitor queue), deleted by the suite with the exchange.
    dlx: `${exchange}.dlx`,
    ...auth,
    healthIntervalMs: 0,
    watchSchemas: false,
    subscribeSchemaUpdates: false,
    batchMax: 1000,
    bodyLimit: 4 * 1024 * 1024,
    logLevel: 'silent',
  });
  console.log(JSON.stringify({ url: gateway.url }));
  process.on('SIGTERM', () => void gateway.close().then(() => process.exit(0)));
}
