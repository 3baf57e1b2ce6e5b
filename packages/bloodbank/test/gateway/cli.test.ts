import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { run as health } from '../../src/cli/health.js';
import { run as publish } from '../../src/cli/publish.js';
import { run as serve } from '../../src/cli/serve.js';
import { main } from '../../src/cli.js';
import { embedded, harness, json, SCHEMAS_DIR } from './helpers.js';

const T = { timeout: 30_000 };

function io(env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l), env } };
}

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('CLI: publish, health, serve (embedded)', () => {
  test('bb publish through the gateway, payload inline and from a file', T, async () => {
    const h = await harness(embedded);
    try {
      const a = io();
      const code = await publish(
        [
          'test.event.created',
          '--payload',
          '{"message":"from cli"}',
          '--gateway',
          h.url,
          '--correlation-id',
          '0190aaaa-bbbb-7ccc-8ddd-000000000099',
        ],
        a.io,
      );
      assert.equal(code, 0, a.err.join('\n'));
      assert.match(
        a.out[0]!,
        /^published [0-9a-f-]{36} test\.event\.created correlation 0190aaaa-bbbb-7ccc-8ddd-000000000099$/,
      );
      const file = join(mkdtempSync(join(tmpdir(), 'bb-cli-')), 'p.json');
      writeFileSync(file, '{"message":"from file"}');
      const b = io({ BLOODBANK_URL: h.url });
      assert.equal(await publish(['test.event.created', '--payload', `@${file}`], b.io), 0, b.err.join('\n'));
      const got = await h.readBack.take(2);
      assert.deepEqual(json(got[0]!).payload, { message: 'from cli' });
      assert.equal(json(got[0]!).correlation_id, '0190aaaa-bbbb-7ccc-8ddd-000000000099');
      assert.equal((json(got[0]!).source as Record<string, string>).trigger_type, 'cli');
      assert.deepEqual(json(got[1]!).payload, { message: 'from file' });
    } finally {
      await h.close();
    }
  });

  test('bb publish: clear one-line errors (schema violation, bad JSON, unreachable gateway)', T, async () => {
    const h = await harness(embedded);
    try {
      const bad = io();
      assert.equal(
        await publish(['test.event.created', '--payload', '{"message":1}', '--gateway', h.url], bad.io),
        1,
      );
      assert.match(bad.err[0]!, /^error SCHEMA_VIOLATION: /);
      assert.match(bad.err[1]!, /\/payload\/message: /);
      const json = io();
      assert.equal(
        await publish(['test.event.created', '--payload', '{nope', '--gateway', h.url], json.io),
        1,
      );
      assert.match(json.err.join('\n'), /MALFORMED_JSON/);
      const port = await deadPort();
      const down = io();
      assert.equal(
        await publish(
          // --retry-for 0: the retry itself is publish-retry.test.ts's; this is the one-line error
          [
            'test.event.created',
            '--payload',
            '{"message":"x"}',
            '--gateway',
            `http://127.0.0.1:${port}`,
            '--retry-for',
            '0',
          ],
          down.io,
        ),
        1,
      );
      assert.equal(down.err.length, 1);
      assert.match(
        down.err[0]!,
        new RegExp(`cannot reach the gateway at http://127.0.0.1:${port} \\(connection refused\\)`),
      );
      const usage = io();
      assert.equal(await publish([], usage.io), 2);
      assert.equal(await h.readBack.settle(), 0);
    } finally {
      await h.close();
    }
  });

  test('bb health: one line per part, exit 1 when any is down', T, async () => {
    const h = await harness(embedded);
    try {
      const up = io();
      assert.equal(await health([`gateway=${h.url}`], up.io), 0, up.out.join('\n'));
      assert.match(up.out[0]!, /^up\s+gateway\s+http:\/\/127\.0\.0\.1:\d+\s+ok$/);
      const port = await deadPort();
      const mixed = io();
      assert.equal(await health([`gateway=${h.url}`, `store=http://127.0.0.1:${port}`], mixed.io), 1);
      assert.match(mixed.out[0]!, /^up\s+gateway/);
      assert.match(mixed.out[1]!, /^DOWN\s+store\s+http:\/\/127\.0\.0\.1:\d+\s+connection refused$/);
      // The default list names every part.
      const defaults = io({ BLOODBANK_URL: `http://127.0.0.1:${port}` });
      await health(['--timeout', '1'], defaults.io);
      assert.deepEqual(
        defaults.out.map((l) => l.split(/\s+/)[1]),
        ['gateway', 'store', 'dashboard', 'dispatcher'],
      );
    } finally {
      await h.close();
    }
  });

  test('bloodbank serve runs the gateway from the environment and stops on the signal', T, async () => {
    let stop!: () => void;
    const interrupted = new Promise<void>((r) => {
      stop = r;
    });
    const c = io({
      BLOODBANK_PORT: '0',
      BLOODBANK_HOST: '127.0.0.1',
      HOLYFIELDS_SCHEMAS: SCHEMAS_DIR,
      BLOODBANK_HEALTH_INTERVAL: '0',
      BLOODBANK_EXCHANGE: `test.serve.${Date.now()}`,
      LOG_LEVEL: 'silent',
    });
    const done = serve([], { ...c.io, interrupted });
    const deadline = Date.now() + 10_000;
    while (c.out.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const url = /listening on (http:\/\/\S+)/.exec(c.out[0] ?? '')?.[1];
    assert.ok(url, c.out.concat(c.err).join('\n'));
    const res = await fetch(`${url}/health`);
    assert.equal(res.status, 200);
    stop();
    assert.equal(await done, 0);
    await assert.rejects(fetch(`${url}/health`));
  });

  test(
    'bloodbank serve: tokens from the environment; every interface only with tokens or the override',
    T,
    async () => {
      const env = {
        BLOODBANK_PORT: '0',
        HOLYFIELDS_SCHEMAS: SCHEMAS_DIR,
        BLOODBANK_HEALTH_INTERVAL: '0',
        BLOODBANK_EXCHANGE: `test.serve.${Date.now()}`,
        LOG_LEVEL: 'silent',
      };
      const refused = io({ ...env, BLOODBANK_HOST: '0.0.0.0' });
      assert.equal(await serve([], refused.io), 1);
      assert.match(
        refused.err.join('\n'),
        /^error CONFIG_INVALID: .*no tokens configured.*ALLOW_UNAUTHENTICATED/,
      );
      assert.deepEqual(refused.out, []);

      for (const extra of [{ ALLOW_UNAUTHENTICATED: 'true' }, { AUTH_TOKENS: 'tok=ops:read' }]) {
        let stop!: () => void;
        const interrupted = new Promise<void>((r) => {
          stop = r;
        });
        const c = io({ ...env, BLOODBANK_HOST: '0.0.0.0', ...extra });
        const done = serve([], { ...c.io, interrupted });
        const deadline = Date.now() + 10_000;
        while (c.out.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        // the address really bound, reachable as printed
        const url = /listening on (http:\/\/127\.0\.0\.1:\d+) /.exec(c.out[0] ?? '')?.[1];
        assert.ok(url, c.out.concat(c.err).join('\n'));
        const health = (await (await fetch(`${url}/health`)).json()) as Record<string, unknown>;
        if (extra.AUTH_TOKENS) {
          assert.deepEqual(health, { status: 'ok' });
          const full = await fetch(`${url}/health`, { headers: { authorization: 'Bearer tok' } });
          assert.equal(((await full.json()) as { broker: { kind: string } }).broker.kind, 'embedded');
        } else {
          assert.equal((health.broker as Record<string, unknown>).kind, 'embedded');
        }
        stop();
        assert.equal(await done, 0);
      }
    },
  );

  test('the bloodbank dispatcher lists the gateway commands', T, async () => {
    const c = io();
    assert.equal(await main(['--help'], c.io), 0);
    for (const name of ['serve', 'publish', 'tail', 'health'])
      assert.match(c.out.join('\n'), new RegExp(`\\b${name}\\b`));
  });
});
