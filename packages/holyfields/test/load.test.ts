import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isAppError } from '@33god/core';
import { loadSchemaTree } from '../src/index.js';
import { FIXTURE_TREE, OWN_TREE, tempDir } from './support/generated.js';

const ENV = {
  event_id: '01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9e0f',
  timestamp: '2026-01-15T10:30:00.000Z',
  version: '1.0.0',
  source: { app: 'test', host: 'h', trigger_type: 'api' },
  correlation_id: null,
};

describe('loading schema trees', { timeout: 60_000 }, () => {
  test('the whole fixture tree loads as it is, enum discriminators and nested folders included', async () => {
    const r = await loadSchemaTree(FIXTURE_TREE);
    assert.equal(r.size, 32);
    for (const t of ['artifact.created', 'artifact.updated', 'artifact.deleted']) {
      assert.equal(r.get(t)?.file, 'artifact/lifecycle.v1.json');
      assert.equal(r.get(t)?.kind, 'envelope');
    }
    assert.equal(r.get('agent.thread.prompt')?.file, 'agent/thread/prompt.v1.json');
    assert.equal(r.get('agent.thread.prompt')?.version, 1);
    assert.equal(r.get('agent.thread.prompt')?.id, 'https://33god.dev/schemas/agent/thread/prompt.v1.json');
    assert.deepEqual(r.eventTypes, [...r.eventTypes].sort());
    assert.equal(r.has('nope.nothing.done'), false);
    assert.equal(r.list().length, 32);
  });

  test("the project's tree loads; payload schemas name their type by path or x-event-type", async () => {
    const r = await loadSchemaTree(OWN_TREE);
    for (const t of [
      'bloodbank.health.status',
      'bloodbank.message.dlq',
      'holyfields.schema.updated',
      'candystore.event.persisted',
      'webhook.plane.issue.created',
      'webhook.plane.workitem.updated',
      'webhook.github.#',
      'infra.dispatch.completed',
      'infra.dispatch.skipped',
      'infra.dispatch.failed',
      'worktree.created',
      'agent.task.completed',
      'meeting.converged',
      'test.event.created',
    ]) {
      assert.ok(r.has(t), t);
      assert.equal(r.get(t)?.kind, 'payload');
      assert.ok((r.get(t)?.examples.length ?? 0) > 0, `${t} has examples`);
    }
    assert.ok(r.has('webhook.github.pull_request.opened'), 'wildcard schema covers matching types');
  });

  test('validate: envelope and payload together, every violation with its pointer', async () => {
    const r = await loadSchemaTree(OWN_TREE);
    assert.deepEqual(r.validate({ ...ENV, event_type: 'test.event.created', payload: { message: 'hi' } }), {
      ok: true,
      known: true,
      violations: [],
    });
    const bad = r.validate({
      ...ENV,
      event_id: 'nope',
      event_type: 'test.event.created',
      payload: { message: 5 },
    });
    assert.equal(bad.ok, false);
    assert.equal(bad.known, true);
    const pointers = bad.violations.map((v) => v.pointer).sort();
    assert.deepEqual(pointers, ['/event_id', '/payload/message']);
    const missing = r.validate({ ...ENV, event_type: 'test.event.created', payload: {} });
    assert.deepEqual(
      missing.violations.map((v) => v.pointer),
      ['/payload/message'],
    );
    const unknown = r.validate({ ...ENV, event_type: 'nobody.knows.this', payload: {} });
    assert.deepEqual(unknown, { ok: true, known: false, violations: [] });
    const unknownBad = r.validate({ event_type: 'nobody.knows.this' });
    assert.equal(unknownBad.known, false);
    assert.equal(unknownBad.ok, false);
    assert.ok(unknownBad.violations.some((v) => v.pointer === '/payload'));
  });

  test('validate on whole-envelope schemas (fixture)', async () => {
    const r = await loadSchemaTree(FIXTURE_TREE);
    const ok = r.validate({
      ...ENV,
      correlation_id: '01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9e0f',
      event_type: 'artifact.updated',
      payload: { action: 'updated', kind: 'code', uri: 'https://example.com/a' },
    });
    assert.deepEqual(ok.violations, []);
    const bad = r.validate({ ...ENV, event_type: 'agent.heartbeat', payload: { status: 'sleepy' } });
    const pointers = bad.violations.map((v) => v.pointer);
    assert.ok(pointers.includes('/payload/agent_name'));
    assert.ok(pointers.includes('/payload/status'));
    assert.ok(pointers.includes('/correlation_id'), 'the fixture base event requires a UUID correlation id');
  });

  const tmp = tempDir('load');
  after(() => tmp.cleanup());

  test('several versions: latest by default, the major of the event version when the tree has it', async () => {
    const dir = join(tmp.dir, 'versions');
    mkdirSync(join(dir, 'demo'), { recursive: true });
    const schema = (v: number, required: string[]) => ({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      $id: `https://example.com/demo/thing.created.v${v}.json`,
      type: 'object',
      properties: { a: { type: 'string' }, b: { type: 'string' } },
      required,
    });
    writeFileSync(join(dir, 'demo/thing.created.v1.json'), JSON.stringify(schema(1, ['a'])));
    writeFileSync(join(dir, 'demo/thing.created.v2.json'), JSON.stringify(schema(2, ['a', 'b'])));
    const r = await loadSchemaTree(dir);
    assert.equal(r.get('demo.thing.created')?.version, 2);
    assert.equal(r.get('demo.thing.created', 1)?.version, 1);
    const event = { ...ENV, event_type: 'demo.thing.created', payload: { a: 'x' } };
    assert.equal(r.validate({ ...event, version: '1.0.0' }).ok, true);
    assert.equal(r.validate({ ...event, version: '2.0.0' }).ok, false);
    assert.equal(r.validate({ ...event, version: '7.0.0' }).ok, false, 'unknown major: the latest');
  });

  test('discriminator `type` for CloudEvents-shaped trees, payload under `data`', async () => {
    const dir = join(tmp.dir, 'ce');
    mkdirSync(join(dir, 'order'), { recursive: true });
    writeFileSync(
      join(dir, 'order/placed.v1.json'),
      JSON.stringify({
        $id: 'https://example.com/order/placed.v1.json',
        type: 'object',
        properties: {
          type: { const: 'order.placed' },
          data: { type: 'object', properties: { sku: { type: 'string' } }, required: ['sku'] },
        },
        required: ['type', 'data'],
      }),
    );
    writeFileSync(
      join(dir, 'order/shipped.v1.json'),
      JSON.stringify({
        $id: 'https://example.com/order/shipped.v1.json',
        type: 'object',
        required: ['carrier'],
      }),
    );
    const r = await loadSchemaTree(dir, { discriminator: 'type' });
    assert.deepEqual(r.eventTypes, ['order.placed', 'order.shipped']);
    assert.equal(r.get('order.placed')?.kind, 'envelope');
    assert.equal(r.validate({ type: 'order.placed', data: { sku: 'a' } }).ok, true);
    assert.deepEqual(
      r.validate({ type: 'order.placed', data: {} }).violations.map((v) => v.pointer),
      ['/data/sku'],
    );
    assert.deepEqual(
      r.validate({ type: 'order.shipped', data: {} }).violations.map((v) => v.pointer),
      ['/data/carrier'],
    );
  });

  test('errors are AppErrors naming the file', async () => {
    const dir = join(tmp.dir, 'dup');
    mkdirSync(join(dir, 'a'), { recursive: true });
    writeFileSync(
      join(dir, 'a/x.created.v1.json'),
      JSON.stringify({ $id: 'https://e.com/a/x.created.v1.json' }),
    );
    writeFileSync(
      join(dir, 'a/other.v1.json'),
      JSON.stringify({ $id: 'https://e.com/a/other.v1.json', 'x-event-type': 'a.x.created' }),
    );
    await assert.rejects(loadSchemaTree(dir), (err: unknown) => {
      assert.ok(isAppError(err));
      assert.equal(err.code, 'SCHEMA_DUPLICATE_TYPE');
      assert.equal(err.extra.file, 'a/x.created.v1.json');
      assert.match(err.message, /a\.x\.created.*also claimed by a\/other\.v1\.json/);
      return true;
    });
  });
});
