import { completeEnvelope, type EventEnvelope } from '@33god/core';
import type { BloodbankHealthStatusV1Payload } from '@33god/events';
import type { HealthReport } from './routes/health.js';

export const HEALTH_EVENT = 'bloodbank.health.status';

/**
 * The periodic `bloodbank.health.status` event: the /health report cut to what
 * `schemas/bloodbank/health.status.v1.json` describes (the broker's connection state and the
 * registry detail stay on /health).
 */
export function healthStatusEvent(
  report: HealthReport,
  host: string,
): EventEnvelope<BloodbankHealthStatusV1Payload> {
  return completeEnvelope<BloodbankHealthStatusV1Payload>(
    {
      event_type: HEALTH_EVENT,
      payload: {
        status: report.status,
        broker: {
          connected: report.broker.connected,
          kind: report.broker.kind,
          latency_ms: report.broker.latency_ms,
        },
        schemas: report.schemas,
        services: report.services,
        uptime_s: report.uptime_s,
        instance: report.instance,
        errors: report.errors,
      },
    },
    { app: 'bloodbank', host, trigger_type: 'scheduled' },
  );
}
