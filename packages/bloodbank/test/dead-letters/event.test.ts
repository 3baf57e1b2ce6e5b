// The bloodbank.message.dlq event built from a dead letter keeps to its generated schema,
// whatever the dead letter's headers hold (the gateway refuses an event that breaks it).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AppError, completeEnvelope, encodeEnvelope, parseTraceparent } from '@33god/core';
import { BloodbankMessageDlqV1Event } from '@33god/events';
import { deadLetterMessage, deadLetterReasonCode } from '../../src/dead-letters/dead-letter.js';
import { describeDeadLetter } from '../../src/dead-letters/describe.js';
import { DEAD_LETTER_HEADERS as H } from '../../src/dead-letters/headers.js';
import { deadLetterEvent } from '../../src/dead-letters/monitor.js';
import { NonRetryableError } from '../../src/middleware/errors.js';
import type { Delivery, MessageProperties } from '../../src/transport/transport.js';

function delivery(body: Buffer, properties: MessageProperties, queue = 'svc.jobs'): Delivery {
  return {
    body,
    exchange: 'bloodbank.events',
    routingKey: 'job.run.requested',
    properties,
    redelivered: false,
    queue,
    ack() {},
    nack() {},
  };
}

/** The dead letter as the monitor reads it from `<queue>.dlq`. */
function deadLettered(failed: Delivery, error: unknown, attempts: number) {
  const msg = deadLetterMessage(failed, { error, handler: 'worker', attempts });
  return describeDeadLetter(delivery(msg.body, msg.properties, 'svc.jobs.dlq'), 'svc.jobs.dlq');
}

function assertSchema(event: unknown): void {
  const parsed = BloodbankMessageDlqV1Event.safeParse(event);
  assert.ok(parsed.success, `the event breaks its schema: ${JSON.stringify(parsed.error?.issues)}`);
}

const job = () => {
  const env = completeEnvelope({ event_type: 'job.run.requested', payload: {} }, { app: 'test' });
  const { body, properties } = encodeEnvelope(env);
  return { env, failed: delivery(body, properties) };
};

describe('bloodbank.message.dlq event', () => {
  test('a retryable failure on the last attempt is max_attempts, in the failed event chain', () => {
    const { env, failed } = job();
    const e = deadLetterEvent(deadLettered(failed, new Error('connection refused'), 3), 'test');
    assertSchema(e);
    assert.equal(e.payload.reason, 'max_attempts');
    assert.equal(e.payload.error_class, 'Error');
    assert.equal(e.payload.error_message, 'connection refused');
    assert.equal(e.payload.attempts, 3);
    assert.equal(e.payload.original_event_id, env.event_id);
    assert.equal(e.payload.original_routing_key, 'job.run.requested');
    assert.equal(e.payload.queue, 'svc.jobs');
    assert.equal(e.payload.dlq, 'svc.jobs.dlq');
    assert.ok(e.payload.first_failed_at);
    assert.equal(e.causation_id, env.event_id);
    assert.equal(e.correlation_id, env.correlation_id);
  });

  test('the dead-letter event continues the failed event trace: a child span, its tracestate', () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const env = completeEnvelope(
      { event_type: 'job.run.requested', payload: {}, traceparent, tracestate: 'congo=1' },
      { app: 'test' },
    );
    const { body, properties } = encodeEnvelope(env);
    const e = deadLetterEvent(deadLettered(delivery(body, properties), new Error('boom'), 3), 'test');
    assertSchema(e);
    const ctx = parseTraceparent(e.traceparent);
    assert.ok(ctx);
    assert.equal(ctx.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.notEqual(ctx.spanId, '00f067aa0ba902b7');
    assert.equal(e.tracestate, 'congo=1');
    // Without a trace context in the failed event, the dead-letter event names none.
    const plain = deadLetterEvent(deadLettered(job().failed, new Error('boom'), 3), 'test');
    assert.equal(plain.traceparent, undefined);
  });

  test('a body that is no envelope is not_json and names no event', () => {
    const failed = delivery(Buffer.from('not json'), { messageId: 'legacy-42', correlationId: 'abc' });
    const e = deadLetterEvent(deadLettered(failed, new AppError('MESSAGE_NOT_JSON', 'not JSON'), 1), 'test');
    assertSchema(e);
    assert.equal(e.payload.reason, 'not_json');
    assert.equal(e.payload.original_event_id, null);
    assert.equal(e.payload.dead_letter_id, 'legacy-42');
    assert.equal(e.causation_id, null);
  });

  test('headers from another client are cut to the schema', () => {
    const { failed } = job();
    const letter = describeDeadLetter(
      delivery(
        failed.body,
        {
          ...failed.properties,
          headers: {
            [H.reasonCode]: 'gremlins',
            [H.reason]: 'é'.repeat(5000),
            [H.errorClass]: 'Boom',
            [H.firstFailureAt]: 'yesterday',
            [H.lastFailureAt]: 'Tue, 14 Jan 2026 10:00:00 GMT',
          },
        },
        'svc.jobs.dlq',
      ),
      'svc.jobs.dlq',
    );
    const e = deadLetterEvent(letter, 'test');
    assertSchema(e);
    assert.equal(e.payload.reason, 'handler_failed');
    assert.equal([...(e.payload.error_message ?? '')].length, 4096);
    assert.equal(e.payload.attempts, 1);
    assert.equal(e.payload.first_failed_at, undefined);
    assert.equal(e.payload.last_failed_at, '2026-01-14T10:00:00.000Z');
  });

  test('the reason code follows the error class and the attempts', () => {
    assert.equal(deadLetterReasonCode(new NonRetryableError('no'), 1), 'handler_rejected');
    assert.equal(deadLetterReasonCode(new NonRetryableError('no'), 4), 'handler_rejected');
    assert.equal(deadLetterReasonCode(new Error('flaky'), 1), 'handler_failed');
    assert.equal(deadLetterReasonCode(new Error('flaky'), 5), 'max_attempts');
    assert.equal(deadLetterReasonCode(new AppError('INVALID_ENVELOPE', 'bad'), 1), 'invalid_envelope');
  });
});
