import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseServiceRegistry } from '@33god/holyfields';
import { loadRegistry, toViewRegistry } from '../src/registry/load-registry.js';
import { serviceForApp } from '../web/src/logic/registry.js';
import {
  catchAllConsumers,
  computeEdges,
  consumerBindings,
  patternsOverlap,
  TopologyIndex,
  unconsumedTypes,
} from '../web/src/logic/topology.js';
import { fixtureRegistry } from './helpers.js';

describe('registry normalization (original 20-service file)', { timeout: 10_000 }, () => {
  const reg = fixtureRegistry();

  test('reads every service with its queues, bindings and layers', () => {
    assert.equal(reg.services.length, 20);
    const trigger = reg.services.find((s) => s.id === 'theboard-meeting-trigger');
    assert.equal(trigger?.queues.length, 5, 'queue_names (plural) become five queues');
    assert.equal(trigger?.queue, 'services.theboard.meeting_trigger');
    const store = reg.services.find((s) => s.id === 'event-store-manager');
    assert.deepEqual(store?.routingKeys, ['#']);
    assert.equal(store?.endpoints.health, 'http://localhost:8080/health');
    assert.deepEqual(Object.keys(reg.layers).slice(0, 2), ['infrastructure', 'event_producers']);
    assert.equal(typeof reg.exchange === 'object' ? reg.exchange.name : reg.exchange, 'bloodbank.events.v1');
    assert.deepEqual(reg.eventSubscriptions['llm.response'], ['llm-collector', 'llm-cost-calculator']);
  });

  test('a service with one queue has it as `queue`; optional texts are filled in', () => {
    const reg = toViewRegistry(
      parseServiceRegistry('version: "1"\nservices:\n  a:\n    queue_name: q.a\n    routing_keys: [x.y]\n'),
    );
    assert.deepEqual(reg.services[0], {
      id: 'a',
      name: 'a',
      description: '',
      type: 'service',
      status: 'active',
      owner: '',
      tags: [],
      queues: ['q.a'],
      routingKeys: ['x.y'],
      produces: [],
      consumes: [],
      endpoints: {},
      queue: 'q.a',
      push: null,
    });
  });

  test('a registry that is not a mapping, or not there, is REGISTRY_INVALID naming the file', async () => {
    assert.throws(() => parseServiceRegistry('nope', 'bad.yaml'), { code: 'REGISTRY_INVALID' });
    await assert.rejects(loadRegistry('/nonexistent/registry.yaml'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'REGISTRY_INVALID');
      assert.match(err.message, /\/nonexistent\/registry\.yaml/);
      return true;
    });
  });
});

describe('edges from produced types matched against binding patterns', { timeout: 10_000 }, () => {
  const reg = fixtureRegistry();
  const index = new TopologyIndex(reg);
  const ids = new Set(index.edges.map((e) => e.id));

  test('exact, `#` and `*` bindings produce the links the broker would route', () => {
    assert.ok(ids.has('hookd-producer->mutation-ledger'), 'tool.mutation.# matches tool.mutation.write');
    assert.ok(ids.has('theboard-producer->theboard-sync'), 'theboard.meeting.# matches');
    assert.ok(ids.has('echobox->fireflies-transcript-rag'));
    assert.ok(ids.has('echobox->fireflies-transcript-notifier'));
    assert.ok(ids.has('node-red-flow-orchestrator->echobox'));
    assert.ok(ids.has('echobox->node-red-flow-orchestrator'), '`consumes` entries count as bindings');
    const edge = index.edges.find((e) => e.id === 'echobox->fireflies-transcript-notifier');
    assert.deepEqual(edge?.eventTypes, ['fireflies.transcript.failed', 'fireflies.transcript.processed']);
  });

  test('the `#` consumer receives from every producer, and no service links to itself', () => {
    const producers = reg.services.filter((s) => s.produces.length > 0 && s.id !== 'event-store-manager');
    for (const p of producers) assert.ok(ids.has(`${p.id}->event-store-manager`), p.id);
    for (const e of index.edges) assert.notEqual(e.from, e.to);
    for (const e of index.edges)
      assert.equal(e.catchAll, e.to === 'event-store-manager', `${e.id} catch-all flag`);
    assert.deepEqual(catchAllConsumers(reg), ['event-store-manager']);
  });

  test('no edge where no pattern matches', () => {
    assert.ok(
      !ids.has('tonny-agent->agent-voice-soprano'),
      'tts.response.completed does not match agent.*.message.*',
    );
    assert.ok(!ids.has('hookd-producer->theboard-sync'));
    assert.equal(
      index.edges.filter((e) => e.to === 'github-pr-listener').length,
      0,
      'nobody declares github.pr.created',
    );
  });

  test('consumersOf honours `*` (one word) and event_subscriptions', () => {
    // in registry order, which Holyfields sorts by service id
    assert.deepEqual(index.consumersOf('agent.alice.message.sent'), [
      'agent-voice-soprano',
      'event-store-manager',
    ]);
    assert.ok(!index.consumersOf('agent.message.sent').includes('agent-voice-soprano'));
    assert.ok(
      index.consumersOf('agent.message.received').includes('agent-voice-soprano'),
      'listed in event_subscriptions',
    );
    assert.deepEqual(index.consumersOf('meeting.created'), ['event-store-manager', 'theboard-sync']);
  });

  test('live routing: the producer is the event source when it is registered', () => {
    assert.deepEqual(index.edgesFor('tool.mutation.bash', 'hookd-producer').sort(), [
      'hookd-producer->event-store-manager',
      'hookd-producer->mutation-ledger',
    ]);
    assert.deepEqual(index.route('tool.mutation.bash', 'Hookd_Producer').producer, 'hookd-producer');
    // Unknown app, one declared producer: that producer stands in.
    assert.equal(index.route('tts.response.completed', 'somebody').producer, 'tonny-agent');
    // Unknown app, two declared producers (echobox and node-red): no guess.
    assert.equal(index.route('fireflies.transcript.ready', 'somebody').producer, null);
    assert.deepEqual(index.edgesFor('fireflies.transcript.ready', 'somebody'), []);
  });

  test('bindings list their origin, and types nobody consumes are found', () => {
    const soprano = reg.services.find((s) => s.id === 'agent-voice-soprano')!;
    assert.deepEqual(consumerBindings(reg, soprano), [
      { pattern: 'agent.*.message.*', origin: 'routing_key' },
      { pattern: 'agent.message.received', origin: 'subscription' },
    ]);
    const feedback = reg.services.find((s) => s.id === 'agent-feedback-router')!;
    assert.deepEqual(unconsumedTypes(index, feedback), []);
    const noStore = { ...reg, services: reg.services.filter((s) => s.id !== 'event-store-manager') };
    const idx2 = new TopologyIndex(noStore);
    assert.deepEqual(unconsumedTypes(idx2, feedback), ['agent.feedback.response']);
    assert.equal(computeEdges(noStore).length < index.edges.length, true);
  });

  test('serviceForApp matches id or name, forgiving case and _/-', () => {
    assert.equal(serviceForApp(reg, 'THEBOARD_producer')?.id, 'theboard-producer');
    assert.equal(serviceForApp(reg, 'nobody'), null);
    assert.equal(serviceForApp(reg, undefined), null);
  });
});

describe('producers that declare patterns', { timeout: 10_000 }, () => {
  test('pattern overlap follows topic semantics', () => {
    assert.ok(patternsOverlap('webhook.plane.#', 'webhook.plane.*.*'));
    assert.ok(patternsOverlap('webhook.*.issue.created', 'webhook.plane.*.*'));
    assert.ok(patternsOverlap('#', 'a.*'));
    assert.ok(patternsOverlap('a.#.z', 'a.b.#'));
    assert.ok(!patternsOverlap('webhook.github.#', 'webhook.plane.*.*'));
    assert.ok(!patternsOverlap('a.*', 'a.*.*'));
    assert.ok(patternsOverlap('a.#', 'a'));
  });

  test('a producer declaring webhook.plane.*.* links to the dispatcher bound to webhook.plane.#', () => {
    const reg = toViewRegistry(
      parseServiceRegistry(
        [
          'version: "1"',
          'services:',
          '  gateway:',
          '    produces: ["webhook.plane.*.*"]',
          '  dispatcher:',
          '    queue_name: q.dispatcher',
          '    routing_keys: ["webhook.plane.#"]',
          '  github:',
          '    queue_name: q.github',
          '    routing_keys: ["webhook.github.#"]',
        ].join('\n'),
      ),
    );
    const edges = computeEdges(reg);
    assert.deepEqual(
      edges.map((e) => e.id),
      ['gateway->dispatcher'],
    );
  });
});
