import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AppError } from '@33god/core';
import { attemptOf, cleanHeaders } from '../../src/dead-letters/headers.js';
import { backoffDelay, resolveRetryPolicy, tierFor } from '../../src/middleware/backoff.js';
import { parseEnvelope } from '../../src/middleware/decode.js';
import {
  errorClassOf,
  errorReasonOf,
  isRetryable,
  NonRetryableError,
  RequeueSignal,
  RetryableError,
} from '../../src/middleware/errors.js';
import { ConsumerStoppedError, redeliveryGuard } from '../../src/middleware/redelivery.js';
import { compose, type MessageContext, type Middleware } from '../../src/middleware/types.js';
import type { OutgoingMessage, Transport } from '../../src/transport/transport.js';

describe('backoff', { timeout: 5000 }, () => {
  const policy = resolveRetryPolicy({ initialDelayMs: 100, multiplier: 2, maxDelayMs: 1000, jitter: 0 });

  test('grows exponentially and stops at maxDelay', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(policy, n)),
      [100, 200, 400, 800, 1000, 1000],
    );
  });

  test('jitter takes a random share off, never adds', () => {
    const p = { ...policy, jitter: 0.5 };
    assert.equal(
      backoffDelay(p, 3, () => 0),
      400,
    );
    assert.equal(
      backoffDelay(p, 3, () => 1),
      200,
    );
    assert.equal(
      backoffDelay(p, 3, () => 0.5),
      300,
    );
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(p, 2);
      assert.ok(d >= 100 && d <= 200, `delay ${d} outside [100, 200]`);
    }
  });

  test('rejects an impossible policy', () => {
    assert.throws(() => resolveRetryPolicy({ maxAttempts: 0 }), /maxAttempts/);
    assert.throws(() => resolveRetryPolicy({ jitter: 2 }), /jitter/);
    assert.throws(() => resolveRetryPolicy({ initialDelayMs: 500, maxDelayMs: 100 }), /maxDelayMs/);
  });

  test('a delay goes to the smallest tier that holds it', () => {
    assert.equal(tierFor(30, [50, 200, 1000]), 50);
    assert.equal(tierFor(50, [50, 200, 1000]), 50);
    assert.equal(tierFor(51, [50, 200, 1000]), 200);
    assert.equal(tierFor(5000, [50, 200, 1000]), 1000);
  });
});

describe('failure classes', { timeout: 5000 }, () => {
  test('retry is decided by the error class', () => {
    assert.equal(isRetryable(new RetryableError('x')), true);
    assert.equal(isRetryable(new NonRetryableError('x')), false);
    assert.equal(isRetryable(new AppError('SCHEMA_VIOLATION')), false);
    assert.equal(isRetryable(new AppError('DATABASE_UNAVAILABLE')), true);
    assert.equal(isRetryable(new TypeError('boom')), true, 'unknown errors are retried');
    class PaymentDeclined extends NonRetryableError {}
    assert.equal(isRetryable(new PaymentDeclined('no')), false, 'subclasses keep the decision');
  });

  test('class and reason recorded on a dead letter', () => {
    class PaymentDeclined extends NonRetryableError {}
    assert.equal(errorClassOf(new PaymentDeclined('card')), 'PaymentDeclined');
    assert.equal(errorClassOf(new AppError('INVALID_ENVELOPE')), 'INVALID_ENVELOPE');
    assert.equal(errorClassOf(new TypeError('x')), 'TypeError');
    assert.equal(errorClassOf('text'), 'string');
    assert.equal(errorReasonOf(new Error('broken pipe')), 'broken pipe');
    assert.ok(errorReasonOf(new Error('x'.repeat(5000))).length <= 1000);
  });
});

describe('middleware composition', { timeout: 5000 }, () => {
  test('the first middleware is the outermost', async () => {
    const trace: string[] = [];
    const mw =
      (name: string): Middleware =>
      (next) =>
      async (m) => {
        trace.push(`${name}>`);
        await next(m);
        trace.push(`<${name}`);
      };
    const h = compose([mw('a'), mw('b')], async () => {
      trace.push('handler');
    });
    await h({} as MessageContext);
    assert.deepEqual(trace, ['a>', 'b>', 'handler', '<b', '<a']);
  });
});

describe('decoding', { timeout: 5000 }, () => {
  const good = {
    event_id: '0190b7c4-7a8e-7c7a-8f3e-1a2b3c4d5e6f',
    event_type: 'test.thing.happened',
    timestamp: '2026-01-01T00:00:00Z',
    version: '1.0.0',
    source: { app: 't', host: 'h', trigger_type: 'api' },
    correlation_id: null,
    payload: {},
  };

  test('a valid envelope parses', () => {
    assert.equal(parseEnvelope(Buffer.from(JSON.stringify(good))).event_type, 'test.thing.happened');
  });

  test('a body that is not JSON is MESSAGE_NOT_JSON (not retryable)', () => {
    const err = (() => {
      try {
        parseEnvelope(Buffer.from('{nope'));
      } catch (e) {
        return e;
      }
    })();
    assert.ok(err instanceof AppError);
    assert.equal(err.code, 'MESSAGE_NOT_JSON');
    assert.equal(isRetryable(err), false);
  });

  test('an invalid envelope is INVALID_ENVELOPE with every pointer', () => {
    const bad = { ...good, event_id: 'x', payload: [], source: { host: 'h' } };
    try {
      parseEnvelope(Buffer.from(JSON.stringify(bad)));
      assert.fail('should throw');
    } catch (e) {
      assert.ok(e instanceof AppError);
      assert.equal(e.code, 'INVALID_ENVELOPE');
      assert.deepEqual(e.violations.map((v) => v.pointer).sort(), ['/event_id', '/payload', '/source/app']);
    }
  });
});

describe('headers', { timeout: 5000 }, () => {
  test('attempt numbers come from x-attempts', () => {
    assert.equal(attemptOf(undefined), 1);
    assert.equal(attemptOf({ 'x-attempts': 2 }), 3);
  });

  test('a redriven message keeps its own headers and loses the failure bookkeeping', () => {
    const cleaned = cleanHeaders({
      'x-event-type': 'a.b.c',
      'x-attempts': 4,
      'x-dead-letter-reason': 'boom',
      'x-death': [{ queue: 'q' }],
      'x-first-death-reason': 'expired',
      'x-original-queue': 'q',
    });
    assert.deepEqual(cleaned, { 'x-event-type': 'a.b.c' });
  });
});

describe('redelivery guard', { timeout: 5000 }, () => {
  const delivery = (redelivered: boolean, redeliveries?: number) =>
    ({
      body: Buffer.from('{}'),
      redelivered,
      routingKey: 'test.x.happened',
      exchange: 'ex',
      properties: { headers: redeliveries === undefined ? {} : { 'x-redeliveries': redeliveries } },
    }) as unknown as MessageContext['delivery'];
  const run = async (d: MessageContext['delivery'], publish: (m: OutgoingMessage) => Promise<void>) => {
    const handled: string[] = [];
    const guard = redeliveryGuard({ transport: { publish } as unknown as Transport, maxRedeliveries: 2 });
    await guard(async () => void handled.push('handler'))({
      delivery: d,
      queue: 'q',
      handler: 'h',
      attempt: 1,
    });
    return handled;
  };

  test('a first delivery goes to the handler; nothing is republished', async () => {
    const sent: OutgoingMessage[] = [];
    assert.deepEqual(await run(delivery(false), async (m) => void sent.push(m)), ['handler']);
    assert.equal(sent.length, 0);
  });

  test('a redelivered message is republished to its own queue, counted, and not handled now', async () => {
    const sent: OutgoingMessage[] = [];
    assert.deepEqual(await run(delivery(true, 1), async (m) => void sent.push(m)), []);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.exchange, '');
    assert.equal(sent[0]!.routingKey, 'q');
    assert.equal(sent[0]!.properties?.headers?.['x-redeliveries'], 2);
  });

  test('past the limit it fails with ConsumerStoppedError (for the dead letters)', async () => {
    await assert.rejects(
      run(delivery(true, 2), async () => {}),
      (err: unknown) => err instanceof ConsumerStoppedError && !isRetryable(err),
    );
  });

  test('a copy the broker did not confirm keeps the original: requeued, not dead-lettered', async () => {
    await assert.rejects(
      run(delivery(true), async () => {
        throw new Error('broker gone');
      }),
      (err: unknown) => err instanceof RequeueSignal,
    );
  });
});
