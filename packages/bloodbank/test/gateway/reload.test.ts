import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { completeEnvelope, envelopeAmqpProperties } from '@33god/core';
import { backends, harness, SCHEMAS_DIR } from './helpers.js';

const T = { timeout: 40_000 };

const demoSchema = JSON.stringify({
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://33god.dev/schemas/demo/thing.created.v1.json',
  title: 'Demo thing created',
  type: 'object',
  properties: { name: { type: 'string' } },
  required: ['name'],
});

function copyTree(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bb-schemas-'));
  cpSync(SCHEMAS_DIR, dir, { recursive: true });
  return dir;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const demo = { event_type: 'demo.thing.created', payload: { name: 'x' } };

for (const backend of backends) {
  describe(`schema hot reload (${backend.name})`, () => {
    test(
      'a change in the schema directory is picked up; a broken tree is refused and the old one kept',
      T,
      async () => {
        const dir = copyTree();
        const h = await harness(backend, { schemasDir: dir, watchSchemas: true });
        try {
          assert.equal((await h.post('/events', demo)).status, 422);
          // Requests keep flowing while the tree is swapped: none may fail.
          let stop = false;
          const statuses: number[] = [];
          const traffic = (async () => {
            while (!stop) {
              const r = await h.post('/publish', {
                event_type: 'test.event.created',
                payload: { message: 'during' },
              });
              statuses.push(r.status);
            }
          })();
          mkdirSync(join(dir, 'demo'));
          writeFileSync(join(dir, 'demo', 'thing.created.v1.json'), demoSchema);
          await until('the new schema', async () =>
            (await h.post('/events', demo)).status === 202 ? true : undefined,
          );
          stop = true;
          await traffic;
          assert.ok(statuses.length > 0);
          assert.deepEqual([...new Set(statuses)], [202]);

          writeFileSync(join(dir, 'test', 'broken.v1.json'), '{ "this is": not json');
          const error = await until('the reload error in /health', async () => {
            const health = (await (await fetch(`${h.url}/health`)).json()) as {
              registry: { last_reload_error: { message: string } | null };
              errors: string[];
            };
            return health.registry.last_reload_error ?? undefined;
          });
          assert.match(error.message, /broken\.v1\.json/);
          // The old tree still serves: both the new type and the old validation rules.
          assert.equal((await h.post('/events', demo)).status, 202);
          assert.equal(
            (await h.post('/events', { event_type: 'test.event.created', payload: {} })).status,
            422,
          );

          rmSync(join(dir, 'test', 'broken.v1.json'));
          await until('the error to clear', async () => {
            const health = (await (await fetch(`${h.url}/health`)).json()) as {
              registry: { last_reload_error: unknown };
            };
            return health.registry.last_reload_error === null ? true : undefined;
          });
        } finally {
          await h.close();
          rmSync(dir, { recursive: true, force: true });
        }
      },
    );

    test('a holyfields.schema.updated event triggers a reload', T, async () => {
      const dir = copyTree();
      const h = await harness(backend, { schemasDir: dir, watchSchemas: false });
      try {
        mkdirSync(join(dir, 'demo'));
        writeFileSync(join(dir, 'demo', 'thing.created.v1.json'), demoSchema);
        // No watcher: nothing happens until the event says so.
        await new Promise((r) => setTimeout(r, 300));
        assert.equal((await h.post('/events', demo)).status, 422);
        const envelope = completeEnvelope(
          {
            event_type: 'holyfields.schema.updated',
            payload: {
              schemas_dir: dir,
              event_types: ['demo.thing.created'],
              schema_count: 1,
              digest: 'a'.repeat(64),
            },
          },
          { app: 'holyfields' },
        );
        await h.transport.publish({
          exchange: h.exchange,
          routingKey: envelope.event_type,
          body: Buffer.from(JSON.stringify(envelope)),
          properties: envelopeAmqpProperties(envelope),
        });
        await until('the reload', async () =>
          (await h.post('/events', demo)).status === 202 ? true : undefined,
        );
      } finally {
        await h.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
