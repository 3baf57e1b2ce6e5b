// The periodic bloodbank.health.status event keeps to its generated schema.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BloodbankHealthStatusV1Event } from '@33god/events';
import { HEALTH_EVENT, healthStatusEvent } from '../../src/gateway/health-event.js';
import type { HealthReport } from '../../src/gateway/routes/health.js';

const report: HealthReport = {
  status: 'degraded',
  broker: { connected: false, kind: 'rabbitmq', state: 'reconnecting', latency_ms: null },
  schemas: 31,
  services: 8,
  registry: { schemas: 31, services: 8, loaded_at: '2026-01-15T10:00:00.000Z', last_reload_error: null },
  uptime_s: 42,
  instance: 'gw-1:4242',
  errors: ['broker connection is reconnecting'],
};

test('the health event carries what the schema describes, and only that of the broker', () => {
  const e = healthStatusEvent(report, 'gw-1');
  const parsed = BloodbankHealthStatusV1Event.safeParse(e);
  assert.ok(parsed.success, `the event breaks its schema: ${JSON.stringify(parsed.error?.issues)}`);
  assert.equal(e.event_type, HEALTH_EVENT);
  assert.deepEqual(e.source, { app: 'bloodbank', host: 'gw-1', trigger_type: 'scheduled' });
  assert.deepEqual(e.payload.broker, { connected: false, kind: 'rabbitmq', latency_ms: null });
  assert.equal(e.payload.status, 'degraded');
  assert.deepEqual(e.payload.errors, ['broker connection is reconnecting']);
});
