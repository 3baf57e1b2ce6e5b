import {
  AppError,
  type EventEnvelope,
  formatTraceparent,
  isCanonicalTraceparent,
  newTrace,
  type Principal,
  parseTraceparent,
  type TraceContext,
  topicMatches,
  type Violation,
} from '@33god/core';
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { RateLimiter } from '../auth/rate-limit.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { UnknownTypePolicy } from '../sdk/types.js';
import { NOOP_TRACER, type Span, type Tracer } from '../tracing/tracer.js';
import type { Transport } from '../transport/transport.js';
import { asBrokerError } from './errors.js';
import type { EnvelopePublisher } from './publisher.js';
import type { SchemaStore } from './schema-store.js';

/**
 * How an event reached the gateway; what it may carry depends on it. Only the gateway's own
 * code names an entry: whatever an HTTP request says, it enters as a `caller`.
 */
export type Entry =
  /** A publish route, with the caller the door admitted (null when tokens are off). */
  | { readonly via: 'caller'; readonly principal: Principal | null }
  /** The webhook ingestor, once it verified the provider's signature over the body. */
  | { readonly via: 'webhook' }
  /** The gateway's own events (health reports, dead-letter notices), built from their schemas. */
  | { readonly via: 'gateway' };

export const WEBHOOK_ENTRY: Entry = { via: 'webhook' };
export const GATEWAY_ENTRY: Entry = { via: 'gateway' };

/** The 403s of the policy, most telling first: a batch refused for several reasons names the first. */
export const POLICY_CODES = ['WEBHOOK_TYPE_FORBIDDEN', 'FORBIDDEN_SOURCE', 'FORBIDDEN_EVENT_TYPE'] as const;
export type PolicyCode = (typeof POLICY_CODES)[number];

/** What `check` found in one event. */
export interface Verdict {
  /** Set when the policy refuses the event (403); `violations` then says why. */
  readonly refused: PolicyCode | null;
  readonly violations: readonly Violation[];
}

const ACCEPTED: Verdict = { refused: null, violations: [] };

const isWebhookType = (type: string): boolean => type.startsWith('webhook.') || type === 'webhook';

const isWebhookTrigger = (trigger: unknown): boolean =>
  typeof trigger === 'string' && trigger.trim().toLowerCase() === 'webhook';

/** `webhook.*`, or anything claiming a webhook as its trigger. */
export function isWebhookEvent(envelope: EventEnvelope): boolean {
  return isWebhookType(envelope.event_type) || isWebhookTrigger(envelope.source.trigger_type);
}

export interface PipelineOptions {
  store: SchemaStore;
  metrics: GatewayMetrics;
  publisher: EnvelopePublisher;
  /** When known, publishes fail fast with 503 while it is not connected. */
  transport?: Transport | undefined;
  limiter?: RateLimiter | null | undefined;
  unknownTypes: UnknownTypePolicy;
  log: FastifyBaseLogger;
  /** Records a `publish` span per event when OpenTelemetry is on. Default: the no-op tracer. */
  tracer?: Tracer;
}

/**
 * The trace context of the HTTP request (`traceparent` and `tracestate` headers), already
 * checked: an invalid header never gets this far (a new trace is started instead).
 */
export interface RequestTrace {
  readonly parent: TraceContext;
  /** The header as received, reused as is when it is already canonical version 00. */
  readonly traceparent: string;
  readonly tracestate: string | undefined;
}

/**
 * The steps every event entering the bus goes through, whichever way it came in (the publish
 * routes, the webhook ingestor, the gateway's own health and dead-letter events): the policy
 * of who may publish what, validation against the current schema registry, publish with a
 * confirm, count it. The policy lives here and nowhere else.
 */
export class PublishPipeline {
  readonly #o: PipelineOptions;
  #inFlight = 0;
  #idle: (() => void)[] = [];

  constructor(options: PipelineOptions) {
    this.#o = options;
  }

  /**
   * The caller the door admitted (`request.principal`; null when tokens are off), after its
   * rate limit: a bucket per principal name, else per client address.
   */
  authenticate(request: FastifyRequest): Principal | null {
    const principal = request.principal;
    this.#o.limiter?.take(principal ? `principal:${principal.name}` : `ip:${request.ip}`);
    return principal;
  }

  /**
   * Applies the policy, then validates one completed envelope; returns what is wrong (pointers
   * under `prefix`) instead of throwing, so a batch can report every bad event at once.
   */
  check(envelope: EventEnvelope, entry: Entry, prefix = ''): Verdict {
    const refused = this.#policy(envelope, entry, prefix);
    if (refused !== null) return refused;
    // The gateway's own events are built from their schemas (the tests check them); a schema
    // reload that broke one must not silence the health and dead-letter reports.
    if (entry.via === 'gateway') return ACCEPTED;
    const result = this.#o.store.schemas.validate(envelope);
    if (!result.known) {
      // Refusing a webhook type nobody described would only make the provider retry forever.
      if (entry.via === 'caller') this.#unknownType(envelope, prefix);
      return ACCEPTED;
    }
    if (result.ok) return ACCEPTED;
    return {
      refused: null,
      violations: result.violations.map((v) => ({ ...v, pointer: `${prefix}${v.pointer}` })),
    };
  }

  /** `check` for one event: throws the refusal, or every schema violation at once. */
  checkOne(envelope: EventEnvelope, entry: Entry): void {
    const { refused, violations } = this.check(envelope, entry);
    if (refused !== null) {
      throw new AppError(refused, violations[0]?.message, { violations });
    }
    if (violations.length > 0) {
      const [code, what] =
        entry.via === 'webhook'
          ? (['WEBHOOK_PAYLOAD_INVALID', 'webhook body'] as const)
          : (['SCHEMA_VIOLATION', 'event'] as const);
      throw new AppError(code, `the ${what} does not match the schema of '${envelope.event_type}'`, {
        violations,
      });
    }
  }

  /** Checks one event and publishes it: the way in for everything but a batch. */
  async submit(envelope: EventEnvelope, entry: Entry, trace?: RequestTrace): Promise<void> {
    this.checkOne(envelope, entry);
    await this.publish(envelope, trace);
  }

  /**
   * Who may put what on the bus. Webhook events enter only through the ingestor, which checked
   * the provider's signature: anyone else publishing `webhook.plane.issue.updated` would be
   * trusted by every consumer as Plane (the dispatcher starts agents on it). With tokens on, an
   * event speaks for its caller: `source.app` is the principal (completion fills it in when
   * absent), and the type is one its registry entry produces.
   */
  #policy(envelope: EventEnvelope, entry: Entry, prefix: string): Verdict | null {
    if (entry.via !== 'webhook' && isWebhookEvent(envelope)) {
      const byType = isWebhookType(envelope.event_type);
      return refusal('WEBHOOK_TYPE_FORBIDDEN', {
        pointer: `${prefix}${byType ? '/event_type' : '/source/trigger_type'}`,
        message: `${byType ? `'${envelope.event_type}' is a webhook event type` : "trigger_type 'webhook' marks a webhook event"}; webhook events enter only through POST /webhooks/<provider>, signed by the provider`,
      });
    }
    if (entry.via !== 'caller' || entry.principal === null) return null;
    const name = entry.principal.name;
    if (envelope.source.app !== name) {
      return refusal('FORBIDDEN_SOURCE', {
        pointer: `${prefix}/source/app`,
        message: `this token publishes as '${name}', not '${envelope.source.app}'; leave source.app out or set it to '${name}'`,
      });
    }
    const produces = this.#o.store.produces(name);
    if (produces === undefined) {
      return refusal('FORBIDDEN_EVENT_TYPE', {
        pointer: `${prefix}/event_type`,
        message: `service '${name}' is not in the service registry, so it may not publish`,
      });
    }
    if (!produces.some((p) => topicMatches(p, envelope.event_type))) {
      return refusal('FORBIDDEN_EVENT_TYPE', {
        pointer: `${prefix}/event_type`,
        message: `service '${name}' may not publish '${envelope.event_type}' (its registry entry produces: ${produces.join(', ') || 'nothing'})`,
      });
    }
    return null;
  }

  #unknownType(envelope: EventEnvelope, prefix: string): void {
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

  /**
   * Publishes an event `check` accepted, with a broker confirm; 503 (BROKER_UNAVAILABLE and
   * friends) when it cannot. Everything else goes through `submit`.
   */
  async publish(envelope: EventEnvelope, trace?: RequestTrace): Promise<void> {
    const t = this.#o.transport;
    if (t && t.state !== 'connected') {
      throw new AppError('BROKER_UNAVAILABLE', `the broker connection is ${t.state}`);
    }
    const span = this.#traceContext(envelope, trace);
    const started = process.hrtime.bigint();
    this.#inFlight++;
    try {
      await this.#o.publisher.publishEnvelope(envelope);
    } catch (err) {
      const failure = asBrokerError(err);
      span?.end(failure);
      throw failure;
    } finally {
      if (--this.#inFlight === 0) for (const done of this.#idle.splice(0)) done();
    }
    span?.end();
    const m = this.#o.metrics;
    m.confirmLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
    m.published.inc({ event_type: this.#label(envelope.event_type) });
  }

  /**
   * Gives the envelope its trace context (docs/gateway.md, "Trace context"). The envelope's
   * own `traceparent` (body member or CloudEvents extension, checked by the codec) wins over
   * the request's headers: it names the event's origin, the headers only the HTTP hop. With
   * neither, a new trace starts. Without OpenTelemetry the context passes through as received
   * (the gateway records no span whose id it could put there); with it, the envelope carries
   * the gateway's `publish` span, a child of what came in.
   */
  #traceContext(envelope: EventEnvelope, trace: RequestTrace | undefined): Span | null {
    const own = envelope.traceparent;
    const tracer = this.#o.tracer ?? NOOP_TRACER;
    if (!tracer.recording) {
      if (own !== undefined) {
        // A later version's extra fields are not ours to pass on: written as version 00. (The
        // codec refused anything unparsable at the door; a new trace is the spec's fallback.)
        if (!isCanonicalTraceparent(own))
          envelope.traceparent = formatTraceparent(parseTraceparent(own) ?? newTrace());
      } else if (trace) {
        envelope.traceparent = isCanonicalTraceparent(trace.traceparent)
          ? trace.traceparent
          : formatTraceparent(trace.parent);
        if (trace.tracestate !== undefined) envelope.tracestate = trace.tracestate;
      } else {
        envelope.traceparent = formatTraceparent(newTrace());
      }
      return null;
    }
    let parent: TraceContext | null = null;
    if (own !== undefined) parent = parseTraceparent(own);
    else if (trace) {
      parent = trace.parent;
      if (trace.tracestate !== undefined) envelope.tracestate = trace.tracestate;
    }
    const span = tracer.startSpan('publish', parent, {
      event_id: envelope.event_id,
      event_type: envelope.event_type,
    });
    envelope.traceparent = formatTraceparent(span.context);
    return span;
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

function refusal(code: PolicyCode, violation: Violation): Verdict {
  return { refused: code, violations: [violation] };
}

/** The code of a batch refused by the policy for one or more of its events, or null. */
export function batchRefusal(codes: ReadonlySet<PolicyCode>): PolicyCode | null {
  return POLICY_CODES.find((c) => codes.has(c)) ?? null;
}
