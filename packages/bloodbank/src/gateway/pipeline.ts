import { AppError, type EventEnvelope, type Violation } from '@33god/core';
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { Authorizer, Principal } from '../auth/authorize.js';
import type { RateLimiter } from '../auth/rate-limit.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { UnknownTypePolicy } from '../sdk/types.js';
import type { Transport } from '../transport/transport.js';
import { asBrokerError } from './errors.js';
import type { EnvelopePublisher } from './publisher.js';
import type { SchemaStore } from './schema-store.js';

export interface PipelineOptions {
  store: SchemaStore;
  metrics: GatewayMetrics;
  publisher: EnvelopePublisher;
  /** When known, publishes fail fast with 503 while it is not connected. */
  transport?: Transport | undefined;
  authorizer?: Authorizer | null | undefined;
  limiter?: RateLimiter | null | undefined;
  unknownTypes: UnknownTypePolicy;
  log: FastifyBaseLogger;
}

/**
 * The steps every published event goes through, whichever route it came in by:
 * authenticate and rate-limit the caller, authorise the type, validate against the
 * current schema registry, publish with a confirm, count it.
 */
export class PublishPipeline {
  readonly #o: PipelineOptions;
  #inFlight = 0;
  #idle: (() => void)[] = [];

  constructor(options: PipelineOptions) {
    this.#o = options;
  }

  /** The caller, or null when auth is off. Rate limiting is per token, else per address. */
  authenticate(request: FastifyRequest): Principal | null {
    const auth = this.#o.authorizer;
    const principal = auth ? auth.authenticate(request.headers.authorization) : null;
    this.#o.limiter?.take(principal ? `token:${principal.token}` : `ip:${request.ip}`);
    return principal;
  }

  /**
   * Authorises and validates one completed envelope; returns its violations (pointers under
   * `prefix`) instead of throwing so a batch can report every bad event at once.
   */
  check(envelope: EventEnvelope, principal: Principal | null, prefix = ''): Violation[] {
    if (principal) this.#o.authorizer?.authorize(principal, envelope.event_type);
    const result = this.#o.store.schemas.validate(envelope);
    if (!result.known) {
      if (this.#o.unknownTypes === 'reject') {
        throw new AppError(
          'UNKNOWN_EVENT_TYPE',
          `no schema for '${envelope.event_type}' (BLOODBANK_UNKNOWN_TYPES=reject)`,
          { violations: [{ pointer: `${prefix}/event_type`, message: 'has no schema in the registry' }] },
        );
      }
      if (this.#o.unknownTypes === 'warn') {
        this.#o.log.warn({ event_type: envelope.event_type }, 'published an event type without a schema');
      }
    }
    if (result.ok) return [];
    return result.violations.map((v) => ({ ...v, pointer: `${prefix}${v.pointer}` }));
  }

  /** Throws SCHEMA_VIOLATION with every pointer when `check` found any. */
  checkOne(envelope: EventEnvelope, principal: Principal | null): void {
    const violations = this.check(envelope, principal);
    if (violations.length > 0) {
      throw new AppError(
        'SCHEMA_VIOLATION',
        `the event does not match the schema of '${envelope.event_type}'`,
        {
          violations,
        },
      );
    }
  }

  /** Publishes with a broker confirm; 503 (BROKER_UNAVAILABLE and friends) when it cannot. */
  async publish(envelope: EventEnvelope): Promise<void> {
    const t = this.#o.transport;
    if (t && t.state !== 'connected') {
      throw new AppError('BROKER_UNAVAILABLE', `the broker connection is ${t.state}`);
    }
    const started = process.hrtime.bigint();
    this.#inFlight++;
    try {
      await this.#o.publisher.publishEnvelope(envelope);
    } catch (err) {
      throw asBrokerError(err);
    } finally {
      if (--this.#inFlight === 0) for (const done of this.#idle.splice(0)) done();
    }
    const m = this.#o.metrics;
    m.confirmLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
    m.published.inc({ event_type: this.#label(envelope.event_type) });
  }

  /** Resolves when no publish is waiting for its confirm (graceful shutdown). */
  drained(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  rejected(code: string): void {
    this.#o.metrics.rejected.inc({ reason: code });
  }

  // Unbounded label values would let any caller grow the metrics without limit.
  #label(eventType: string): string {
    return this.#o.store.schemas.get(eventType) == null ? '_unregistered' : eventType;
  }
}
