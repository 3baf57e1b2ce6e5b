// Topology from the registry against every backend: apply, check clean, then drift.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadServiceRegistry } from '@33god/holyfields';
import { applyTopology, checkTopology, formatTopologyReport } from '../../src/topology/apply.js';
import { dlqName, retryQueueName } from '../../src/topology/names.js';
import { backends, TestNames } from '../sdk/backends.js';
import { writeRegistry } from './registry-file.js';

const T = { timeout: 30_000 };

for (const backend of backends()) {
  describe(`topology on ${backend.name}`, () => {
    test(
      'apply declares the registry; check is clean, then reports a missing binding and queue',
      T,
      async () => {
        const names = new TestNames();
        const transport = await backend.transport();
        try {
          const { path, queues } = writeRegistry(names);
          const registry = await loadServiceRegistry(path);
          const opts = names.topology;
          const before = await checkTopology(transport, registry, opts);
          assert.equal(before.ok, false);
          assert.ok(before.missingExchanges.includes(opts.exchange));

          await applyTopology(transport, registry, opts);
          await applyTopology(transport, registry, opts); // idempotent
          const clean = await checkTopology(transport, registry, opts);
          assert.deepEqual(
            { ok: clean.ok, e: clean.missingExchanges, q: clean.missingQueues, b: clean.missingBindings },
            { ok: true, e: [], q: [], b: [] },
          );
          assert.equal(clean.bindingsChecked, true);
          for (const q of Object.values(queues)) {
            assert.notEqual(await transport.checkQueue(q), null, q);
            assert.notEqual(await transport.checkQueue(dlqName(q)), null, dlqName(q));
            for (const tier of names.tiers)
              assert.notEqual(await transport.checkQueue(retryQueueName(q, tier)), null);
          }
          assert.equal(
            await transport.checkQueue(names.queue('old')),
            null,
            'deprecated services get no queue',
          );

          await transport.unbindQueue(queues.orders, opts.exchange, 'payment.captured');
          const drift = await checkTopology(transport, registry, opts);
          assert.equal(drift.ok, false);
          assert.deepEqual(drift.missingBindings, [
            { queue: queues.orders, exchange: opts.exchange, pattern: 'payment.captured' },
          ]);
          assert.match(formatTopologyReport(drift), /missing binding .*payment\.captured/);

          await transport.deleteQueue(queues.mail);
          const drift2 = await checkTopology(transport, registry, opts);
          assert.deepEqual(drift2.missingQueues, [queues.mail]);
          assert.ok(
            drift2.missingBindings.some((b) => b.queue === queues.mail && b.pattern === 'mail.*.requested'),
          );

          await applyTopology(transport, registry, opts);
          assert.equal((await checkTopology(transport, registry, opts)).ok, true);
        } finally {
          await transport.close();
          await names.cleanup(backend.name);
        }
      },
    );
  });
}
