import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export const PUSH_STATES = ['starting', 'delivering', 'retrying', 'paused', 'probing', 'stopped'] as const;
export type PushState = (typeof PUSH_STATES)[number];

/** Prometheus metrics of the push subscriptions, on the registry of the process that runs them. */
export class PushMetrics {
  readonly deliveries: Counter<'service' | 'outcome'>;
  readonly duration: Histogram<'service'>;
  readonly state: Gauge<'service' | 'state'>;
  readonly consecutiveFailures: Gauge<'service'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.deliveries = new Counter({
      name: 'bloodbank_push_deliveries_total',
      help: 'Push delivery attempts by outcome: delivered (2xx), failed (retried: 408, 429, 5xx, timeout, connection), rejected (other 4xx, dead-lettered).',
      labelNames: ['service', 'outcome'],
      registers,
    });
    this.duration = new Histogram({
      name: 'bloodbank_push_delivery_seconds',
      help: 'Time from POST to the endpoint answer (or the failure).',
      labelNames: ['service'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.state = new Gauge({
      name: 'bloodbank_push_state',
      help: 'State of each push subscription: 1 for the current state (delivering, retrying, paused, probing, starting, stopped), 0 for the others.',
      labelNames: ['service', 'state'],
      registers,
    });
    this.consecutiveFailures = new Gauge({
      name: 'bloodbank_push_consecutive_failures',
      help: 'Failed deliveries in a row per push subscription (the circuit opens at its threshold).',
      labelNames: ['service'],
      registers,
    });
  }

  /** The series of one subscription, resolved once (label lookups per delivery show in a profile). */
  forService(service: string) {
    return {
      delivered: this.deliveries.labels({ service, outcome: 'delivered' }),
      failed: this.deliveries.labels({ service, outcome: 'failed' }),
      rejected: this.deliveries.labels({ service, outcome: 'rejected' }),
      duration: this.duration.labels({ service }),
      consecutiveFailures: this.consecutiveFailures.labels({ service }),
    };
  }

  setState(service: string, current: PushState): void {
    for (const s of PUSH_STATES) this.state.set({ service, state: s }, s === current ? 1 : 0);
  }
}
