import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isAppError } from '@33god/core';
import {
  bundleRegistry,
  consumersOf,
  loadSchemaTree,
  loadServiceRegistry,
  parseServiceRegistry,
  producersOf,
} from '../src/index.js';
import { createAjv } from '../src/schema/ajv.js';
import {
  FIXTURE_REGISTRY,
  FIXTURE_TREE,
  OWN_REGISTRY,
  OWN_TREE,
  runNode,
  tempDir,
} from './support/generated.js';

const tmp = tempDir('reg');
after(() => tmp.cleanup());

describe('service registry', { timeout: 60_000 }, () => {
  test('the original 20-service registry loads as it is, normalized', async () => {
    const reg = await loadServiceRegistry(FIXTURE_REGISTRY);
    assert.equal(reg.services.length, 20);
    assert.deepEqual(reg.exchange, { name: 'bloodbank.events.v1', type: 'topic', durable: true });
    const trigger = reg.services.find((s) => s.id === 'theboard-meeting-trigger')!;
    assert.ok(trigger.queues.length > 1, 'queue_names become queues');
    const store = reg.services.find((s) => s.id === 'event-store-manager')!;
    assert.deepEqual(store.queues, ['event_store_manager_queue']);
    assert.deepEqual(store.routingKeys, ['#']);
    assert.equal(store.status, 'planned');
    assert.equal(store.endpoints.health, 'http://localhost:8080/health');
    assert.ok(reg.layers.infrastructure?.includes('event-store-manager'));
    assert.deepEqual(reg.eventSubscriptions['agent.thread.prompt'], [
      'agent-thread-collector',
      'agent-thread-analytics',
    ]);
    assert.ok(
      reg.warnings.some((w) => w.includes("'fireflies'")),
      'topology names a non-service',
    );
    assert.deepEqual(
      consumersOf(reg, 'agent.thread.prompt').map((s) => s.id),
      ['agent-thread-analytics', 'agent-thread-collector', 'event-store-manager'],
    );
  });

  test("the project's registry: services, queue options, topic-pattern producers and consumers", async () => {
    const reg = await loadServiceRegistry(OWN_REGISTRY);
    const ids = reg.services.map((s) => s.id);
    for (const id of ['bloodbank', 'candystore', 'candybar', 'infra-dispatcher'])
      assert.ok(ids.includes(id), id);
    const dispatcher = reg.services.find((s) => s.id === 'infra-dispatcher')!;
    assert.deepEqual(dispatcher.queues, ['infra_dispatcher.plane']);
    assert.deepEqual(dispatcher.routingKeys, ['webhook.plane.#']);
    assert.equal(dispatcher.queue.maxAttempts, 5);
    assert.equal(reg.services.find((s) => s.id === 'candystore')!.queue.queueType, 'quorum');
    assert.deepEqual(
      consumersOf(reg, 'webhook.plane.issue.created').map((s) => s.id),
      ['candybar', 'candystore', 'infra-dispatcher'],
    );
    assert.deepEqual(
      producersOf(reg, 'webhook.plane.issue.created').map((s) => s.id),
      ['bloodbank'],
    );
    assert.deepEqual(
      producersOf(reg, 'agent.task.completed').map((s) => s.id),
      ['agent-runner'],
    );
    assert.deepEqual(reg.warnings, []);
    // Every type a service produces has a schema in the project's tree.
    const schemas = await loadSchemaTree(OWN_TREE);
    for (const s of reg.services) {
      for (const p of s.produces) {
        const probe = p.replaceAll('#', 'x').replace('*', 'issue').replaceAll('*', 'created');
        assert.ok(schemas.has(probe), `${s.id} produces ${p}: a schema covers ${probe}`);
      }
    }
  });

  test('an invalid registry: REGISTRY_INVALID with every violation', () => {
    const text = `
services:
  a:
    status: alive
    routing_keys: ["bad key!"]
    queue_options: { queue_type: lazy, max_attempts: 0 }
  b:
    queue_name: shared
  c:
    queue_name: shared
`;
    assert.throws(
      () => parseServiceRegistry(text, 'bad.yaml'),
      (err: unknown) => {
        assert.ok(isAppError(err));
        assert.equal(err.code, 'REGISTRY_INVALID');
        const pointers = err.violations.map((v) => v.pointer);
        for (const p of [
          '/services/a/status',
          '/services/a/routing_keys/0',
          '/services/a/queue_options/queue_type',
          '/services/a/queue_options/max_attempts',
        ]) {
          assert.ok(pointers.includes(p), `${p} in ${JSON.stringify(pointers)}`);
        }
        return true;
      },
    );
    assert.throws(
      () => parseServiceRegistry('services:\n  b: {queue_name: shared}\n  c: {queue_name: shared}\n'),
      /1 violation/,
    );
    assert.throws(() => parseServiceRegistry('services: [\n', 'broken.yaml'), /broken\.yaml: not valid YAML/);
  });
});

describe('catalog, bundle and validate', { timeout: 120_000 }, () => {
  test('catalog: every type with schema, example, producers and consumers', () => {
    const out = join(tmp.dir, 'catalog');
    const r = runNode(['catalog', '--schemas', OWN_TREE, '--registry', OWN_REGISTRY, '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    const entries = JSON.parse(readFileSync(join(out, 'catalog.json'), 'utf8')) as {
      eventType: string;
      producers: string[];
      consumers: string[];
      example?: unknown;
    }[];
    assert.equal(entries.length, 33);
    const plane = entries.find((e) => e.eventType === 'webhook.plane.issue.created')!;
    assert.deepEqual(plane.producers, ['bloodbank']);
    assert.deepEqual(plane.consumers, ['candybar', 'candystore', 'infra-dispatcher']);
    assert.ok(plane.example);
    assert.ok(entries.find((e) => e.eventType === 'webhook.github.#')!.producers.includes('bloodbank'));
    assert.match(html, /<code>test\.event\.created<\/code>/);
    assert.match(html, /infra-dispatcher/);
  });

  test('bundle: one document Ajv compiles without the files, validating like the tree', async () => {
    for (const dir of [OWN_TREE, FIXTURE_TREE]) {
      const r = runNode(['bundle', '--schemas', dir]);
      assert.equal(r.code, 0, r.stderr);
      const bundle = JSON.parse(r.stdout) as {
        'x-holyfields': { events: { eventType: string; $ref: string }[] };
      };
      const registry = await loadSchemaTree(dir);
      assert.deepEqual(bundle, JSON.parse(JSON.stringify(bundleRegistry(registry))));
      const ajv = createAjv();
      ajv.addSchema(bundle);
      for (const e of bundle['x-holyfields'].events) {
        const validate = ajv.getSchema(e.$ref);
        assert.ok(validate, `${e.eventType} resolves in the bundle`);
        for (const ex of registry.get(e.eventType)!.examples) assert.equal(validate(ex), true);
        assert.equal(validate(42), false);
      }
    }
  });

  test('validate: every violation with its pointer; exit 1 on invalid or unknown', () => {
    const env = {
      event_id: '01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9e0f',
      timestamp: '2026-01-15T10:30:00.000Z',
      version: '1.0.0',
      source: { app: 'a', host: 'h', trigger_type: 'api' },
      correlation_id: null,
    };
    const good = join(tmp.dir, 'good.json');
    const bad = join(tmp.dir, 'bad.json');
    const unknown = join(tmp.dir, 'unknown.json');
    writeFileSync(
      good,
      JSON.stringify({ ...env, event_type: 'test.event.created', payload: { message: 'hi' } }),
    );
    writeFileSync(
      bad,
      JSON.stringify([{ ...env, event_type: 'test.event.created', timestamp: 'yesterday', payload: {} }]),
    );
    writeFileSync(unknown, JSON.stringify({ ...env, event_type: 'nobody.knows.this', payload: {} }));
    const ok = runNode(['validate', '--schemas', OWN_TREE, good]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /good\.json: ok/);
    const no = runNode(['validate', '--schemas', OWN_TREE, bad]);
    assert.equal(no.code, 1);
    assert.match(no.stdout, /bad\.json: \/timestamp: must match format "date-time"/);
    assert.match(no.stdout, /bad\.json: \/payload\/message: is required/);
    assert.equal(runNode(['validate', '--schemas', OWN_TREE, unknown]).code, 1);
    assert.equal(runNode(['validate', '--schemas', OWN_TREE, '--unknown', 'allow', unknown]).code, 0);
  });
});
