import { hostname } from 'node:os';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { GatewayMetrics } from '../../metrics/gateway-metrics.js';
import type { PushSubscriptionStatus } from '../../push/worker.js';
import type { Transport } from '../../transport/transport.js';
import type { SchemaStore } from '../schema-store.js';

export interface HealthReport {
  status: 'ok' | 'degraded';
  broker: {
    connected: boolean;
    kind: 'rabbitmq' | 'embedded';
    state: string;
    latency_ms: number | null;
    /** RabbitMQ: the node connected (or being connected) to, redacted; one of AMQP_URL's list. */
    node?: string;
    /** RabbitMQ, while not connected: why the connection was lost or the last attempt failed. */
    error?: string;
    /** The durable embedded broker's journal and its first failed write. */
    journal?: { location: string; error: string | null };
  };
  schemas: number;
  services: number;
  registry: { schemas: number; services: number | null; loaded_at: string; last_reload_error: unknown };
  uptime_s: number;
  instance: string;
  errors: string[];
  /** The push subscriptions this process runs (docs/push.md); only on /health. */
  push?: PushSubscriptionStatus[];
}

const started = Date.now();
const instance = `${hostname()}:${process.pid}`;

const PROBE_TIMEOUT_MS = 2000;

/**
 * A round trip to the broker (a passive exchange check), so /health reports what the broker
 * answers now rather than what the connection last said. Null when it fails or times out.
 */
async function probeBroker(transport: Transport, exchange: string): Promise<number | null> {
  if (transport.state !== 'connected') return null;
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      transport.checkExchange(exchange),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), PROBE_TIMEOUT_MS);
      }),
    ]);
    return Math.round((performance.now() - started) * 100) / 100;
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}

/** What /health answers and the periodic bloodbank.health.status event carries. */
export async function healthReport(
  transport: Transport | undefined,
  store: SchemaStore,
  exchange: string,
): Promise<HealthReport> {
  const errors: string[] = [];
  const state = transport?.state ?? 'connected';
  const latency = transport ? await probeBroker(transport, exchange) : null;
  const connected = state === 'connected' && (transport === undefined || latency !== null);
  if (state !== 'connected') {
    const why = transport?.lastError;
    errors.push(`broker connection is ${state}${why ? ` (${why})` : ''}`);
  }
  const journal = transport?.journal;
  if (journal?.error) errors.push(`the embedded broker could not write its journal: ${journal.error}`);
  else if (!connected) errors.push('the broker did not answer a check within 2 s');
  const reg = store.status;
  if (reg.schemas === 0) errors.push('no schemas loaded');
  if (reg.last_reload_error) errors.push(`last schema reload failed: ${reg.last_reload_error.message}`);
  return {
    status: connected && reg.schemas > 0 && !journal?.error ? 'ok' : 'degraded',
    broker: {
      connected,
      kind: transport?.kind ?? 'rabbitmq',
      state,
      latency_ms: latency,
      ...(transport?.node ? { node: transport.node } : {}),
      ...(transport?.lastError ? { error: transport.lastError } : {}),
      ...(journal ? { journal } : {}),
    },
    schemas: reg.schemas,
    services: reg.services ?? 0,
    registry: {
      schemas: reg.schemas,
      services: reg.services,
      loaded_at: reg.loaded_at,
      last_reload_error: reg.last_reload_error,
    },
    uptime_s: Math.round((Date.now() - started) / 1000),
    instance,
    errors,
  };
}

export interface HealthRoutesOptions {
  transport: Transport | undefined;
  store: SchemaStore;
  metrics: GatewayMetrics;
  exchange: string;
  /** The push subscriptions' states, shown under `push` when there are any. */
  push?: () => PushSubscriptionStatus[];
  /**
   * Whether this caller sees only `{status}`: anonymous callers when tokens are configured, since
   * the detail names the broker, the instance and the last reload error.
   */
  statusOnly(request: FastifyRequest): boolean;
}

export async function healthRoutes(app: FastifyInstance, o: HealthRoutesOptions): Promise<void> {
  app.get(
    '/health',
    {
      config: { access: 'public' },
      schema: {
        summary:
          'Broker connection and loaded registries; 503 when degraded. Without a token (when tokens are configured), only {status}.',
        tags: ['operations'],
      },
    },
    async (request, reply) => {
      const report = await healthReport(o.transport, o.store, o.exchange);
      const push = o.push?.() ?? [];
      if (push.length > 0) {
        // A paused subscription is the endpoint's trouble, not the gateway's: reported, not degraded.
        report.push = push;
        for (const p of push)
          if (p.state === 'paused') report.errors.push(`push subscription ${p.service} is paused`);
      }
      // A reload that failed keeps the old tree serving, so it is reported but not degraded.
      reply.code(report.status === 'ok' ? 200 : 503);
      return o.statusOnly(request) ? { status: report.status } : report;
    },
  );
  app.get(
    '/metrics',
    { config: { access: 'read' }, schema: { summary: 'Prometheus metrics', tags: ['operations'] } },
    async (_request, reply) => {
      o.metrics.brokerConnected.set(o.transport === undefined || o.transport.state === 'connected' ? 1 : 0);
      o.metrics.schemasLoaded.set(o.store.status.schemas);
      reply.type(o.metrics.registry.contentType);
      return o.metrics.registry.metrics();
    },
  );
}
