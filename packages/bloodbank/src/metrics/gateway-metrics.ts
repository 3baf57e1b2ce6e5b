import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The gateway's Prometheus metrics, on a registry of its own so several gateways in one
 * process (tests, embedded mode) do not collide on the global one.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly published: Counter<'event_type'>;
  readonly rejected: Counter<'reason'>;
  readonly confirmLatency: Histogram;
  readonly brokerConnected: Gauge;
  readonly schemasLoaded: Gauge;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.published = new Counter({
      name: 'bloodbank_gateway_events_published_total',
      help: 'Events the broker confirmed, by event type (types without a schema count as _unregistered).',
      labelNames: ['event_type'],
      registers,
    });
    this.rejected = new Counter({
      name: 'bloodbank_gateway_events_rejected_total',
      help: 'Requests refused, by error code.',
      labelNames: ['reason'],
      registers,
    });
    this.confirmLatency = new Histogram({
      name: 'bloodbank_gateway_publish_confirm_seconds',
      help: 'Time from publish to broker confirm.',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.brokerConnected = new Gauge({
      name: 'bloodbank_gateway_broker_connected',
      help: '1 while the broker connection is up, else 0.',
      registers,
    });
    this.schemasLoaded = new Gauge({
      name: 'bloodbank_gateway_schemas_loaded',
      help: 'Event types in the loaded schema registry.',
      registers,
    });
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }
}
