// Publishing bad input: unknown event types under each policy, payloads that break
// their schema, and bad broker URLs.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AppError } from '@33god/core';
import { loadSchemaTree } from '@33god/holyfields';
import { connect } from '../../src/sdk/bus.js';
import type { BusLogger } from '../../src/sdk/logger.js';
import { applyPlan } from '../../src/topology/apply.js';
import { resolveTopologyOptions } from '../../src/topology/options.js';
import { planExchanges } from '../../src/topology/plan.js';
import { backends, waitFor } from './backends.js';
import { harness, schemaDir } from './setup.js';

const T = { timeout: 30_000 };

function recordingLogger(): BusLogger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, warn: (_o, msg) => warnings.push(msg), error: () => {}, info: () => {} };
}

function appErrorCode(code: string) {
  return (e: unknown) => {
    assert.ok(e instanceof AppError, `expected an AppError, got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  };
}

for (const backend of backends()) {
  describe(`publish validation on ${backend.name}`, () => {
    test(
      'unknown type rejected under reject, published with a warning under warn, silently under allow',
      T,
      async () => {
        const dir = schemaDir();
        for (const policy of ['reject', 'warn', 'allow'] as const) {
          const logger = recordingLogger();
          const h = await harness(backend, { schemas: dir, unknownTypes: policy, logger });
          try {
            const topo = resolveTopologyOptions(h.names.topology, {});
            await applyPlan(h.transport, planExchanges(topo));
            const attempt = h.bus.publish('test.thing.vanished', {});
            if (policy === 'reject') {
              await assert.rejects(attempt, (e: unknown) => {
                appErrorCode('UNKNOWN_EVENT_TYPE')(e);
                assert.deepEqual(
                  (e as AppError).violations.map((v) => v.pointer),
                  ['/event_type'],
                );
                return true;
              });
              assert.equal(
                (await h.transport.checkQueue(topo.unroutable))?.messageCount,
                0,
                'nothing was sent',
              );
            } else {
              await attempt;
              await waitFor(
                async () => (await h.transport.checkQueue(topo.unroutable))?.messageCount === 1,
                'the event',
              );
              assert.equal(logger.warnings.length, policy === 'warn' ? 1 : 0);
            }
          } finally {
            await h.done();
          }
        }
      },
    );

    test(
      'a payload breaking its schema is SCHEMA_VIOLATION with every pointer, and is not sent',
      T,
      async () => {
        const h = await harness(backend, { schemas: await loadSchemaTree(schemaDir()) });
        try {
          const topo = resolveTopologyOptions(h.names.topology, {});
          await applyPlan(h.transport, planExchanges(topo));
          await assert.rejects(
            h.bus.publish('test.thing.created', { name: 7, size: -1, extra: true }),
            (e: unknown) => {
              appErrorCode('SCHEMA_VIOLATION')(e);
              const pointers = (e as AppError).violations.map((v) => v.pointer).sort();
              assert.deepEqual(pointers, ['/payload/extra', '/payload/name', '/payload/size']);
              return true;
            },
          );
          const ok = await h.bus.publish('test.thing.created', { name: 'lamp', size: 2 });
          await waitFor(
            async () => (await h.transport.checkQueue(topo.unroutable))?.messageCount === 1,
            'the good one',
          );
          const d = await h.transport.get(topo.unroutable);
          assert.equal(d?.properties.messageId, ok.event_id);
          d?.ack();
        } finally {
          await h.done();
        }
      },
    );

    test('an event type that is not a routing key is INVALID_ENVELOPE', T, async () => {
      const h = await harness(backend);
      try {
        await assert.rejects(h.bus.publish('Not A Type', {}), appErrorCode('INVALID_ENVELOPE'));
      } finally {
        await h.done();
      }
    });

    test('unknown types allowed still need a valid envelope', T, async () => {
      const h = await harness(backend, { schemas: await loadSchemaTree(schemaDir()), unknownTypes: 'allow' });
      try {
        await assert.rejects(h.bus.publish('Not A Type', {}), appErrorCode('INVALID_ENVELOPE'));
        await assert.rejects(
          h.bus.publish('ok.unknown.type', {}, { correlationId: 'not-a-uuid' }),
          appErrorCode('INVALID_ENVELOPE'),
        );
      } finally {
        await h.done();
      }
    });
  });
}

describe('broker URLs', () => {
  test('a URL that is not amqp is INVALID_BROKER_URL and names the problem', T, async () => {
    await assert.rejects(connect({ app: 't', url: 'http://127.0.0.1:5672' }), (e: unknown) => {
      appErrorCode('INVALID_BROKER_URL')(e);
      assert.match((e as Error).message, /amqp:\/\//);
      return true;
    });
    await assert.rejects(connect({ app: 't', url: 'not a url' }), appErrorCode('INVALID_BROKER_URL'));
  });

  test('the password never appears in the error', T, async () => {
    await assert.rejects(connect({ app: 't', url: 'ftp://user:s3cret@host' }), (e: unknown) => {
      assert.doesNotMatch((e as Error).message, /s3cret/);
      return true;
    });
  });

  test('an unreachable broker fails fast with BROKER_UNAVAILABLE', T, async () => {
    const started = Date.now();
    await assert.rejects(
      connect({ app: 't', url: 'amqp://guest:guest@127.0.0.1:1', publishTimeoutMs: 2000 }),
      appErrorCode('BROKER_UNAVAILABLE'),
    );
    assert.ok(Date.now() - started < 15_000);
  });
});

describe('typed publish through an EventMap', () => {
  test('payload types are checked at compile time', T, async () => {
    interface EventMap {
      'typed.thing.made': { n: number };
    }
    const backend = backends()[0]!;
    const transport = await backend.transport();
    const bus = await connect<EventMap>({ app: 't', transport, topology: { monitorQueue: false } });
    try {
      const check = (): void => {
        // @ts-expect-error: the payload of typed.thing.made has a number `n`
        void bus.publish('typed.thing.made', { n: 'one' });
        // @ts-expect-error: not an event type of the map
        void bus.publish('typed.thing.lost', { n: 1 });
      };
      assert.equal(typeof check, 'function');
      // Nothing is bound and the exchange does not exist: the typed call reaches the transport.
      await assert.rejects(bus.publish('typed.thing.made', { n: 1 }), appErrorCode('EXCHANGE_NOT_FOUND'));
    } finally {
      await bus.close();
      await transport.close();
    }
  });
});
