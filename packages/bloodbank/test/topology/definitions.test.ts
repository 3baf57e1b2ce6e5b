import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { planTopology, rabbitMqDefinitions, resolveTopologyOptions } from '@33god/bloodbank';
import { loadServiceRegistry } from '@33god/holyfields';
import {
  DEPLOY_DEFINITIONS,
  deployDefinitionsJson,
} from '../../../../scripts/generate-deploy-definitions.js';

describe('RabbitMQ definitions from the registry', () => {
  it('deploy/rabbitmq/definitions.json is what the registry generates (run `npm run generate`)', async () => {
    assert.equal(readFileSync(DEPLOY_DEFINITIONS, 'utf8'), await deployDefinitionsJson());
  });

  it('carry the alternate exchange, dead letters, quorum type and own-queue-only retries', async () => {
    const registry = await loadServiceRegistry(
      new URL('../../../../services/registry.yaml', import.meta.url).pathname,
    );
    const opts = resolveTopologyOptions({ queueType: 'quorum', exchange: 'x.events', dlx: 'x.dlx' }, {});
    const defs = rabbitMqDefinitions(planTopology(registry, opts));
    const events = defs.exchanges.find((e) => e.name === 'x.events');
    assert.deepEqual(events?.arguments, { 'alternate-exchange': 'x.events.unroutable' });
    const inbox = defs.queues.find((q) => q.name === 'candystore.events');
    assert.equal(inbox?.arguments['x-queue-type'], 'quorum');
    assert.equal(inbox?.arguments['x-dead-letter-exchange'], 'x.dlx');
    assert.equal(inbox?.arguments['x-dead-letter-routing-key'], 'candystore.events');
    const retry = defs.queues.find((q) => q.name.startsWith('candystore.events.retry.'));
    assert.equal(
      retry?.arguments['x-dead-letter-exchange'],
      '',
      'retries leave through the default exchange',
    );
    assert.equal(retry?.arguments['x-dead-letter-routing-key'], 'candystore.events');
    assert.ok(!defs.bindings.some((b) => b.destination === retry?.name), 'a retry queue has no binding');
    assert.ok(
      defs.bindings.some(
        (b) => b.source === 'x.events' && b.destination === 'candystore.events' && b.routing_key === '#',
      ),
    );
    assert.ok(defs.bindings.some((b) => b.source === 'x.dlx' && b.destination === 'candystore.events.dlq'));
  });
});
