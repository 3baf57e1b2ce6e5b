import { childOf, envVar, newTrace, parse, readEnv, type TraceContext } from '@33god/core';

export const OTEL_EXPORTER_OTLP_ENDPOINT = envVar({
  name: 'OTEL_EXPORTER_OTLP_ENDPOINT',
  doc: 'OTLP/HTTP base URL (e.g. http://127.0.0.1:4318). Set: the gateway and every SDK consumer (store, dispatcher) export publish, deliver and handle spans to `<url>/v1/traces`. Unset: no OpenTelemetry code is loaded.',
  parse: parse.string,
});

/** The spans the bus records: a publish (gateway or SDK), a delivery to a consumer, its handler. */
export type SpanName = 'publish' | 'deliver' | 'handle';

export interface SpanAttributes {
  readonly event_id?: string;
  readonly event_type?: string;
  /** The queue of a delivery, or the exchange of a publish. */
  readonly destination?: string;
}

/** One span; `context` is what travels on (as an envelope's `traceparent`, or a child's parent). */
export interface Span {
  readonly context: TraceContext;
  end(error?: unknown): void;
}

/**
 * The tracing port. The bus knows only this; the OpenTelemetry adapter (`otel.ts`) is
 * imported at start when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and never otherwise.
 */
export interface Tracer {
  /** False for the no-op tracer: callers skip the spans that would only cost time. */
  readonly recording: boolean;
  /** A span under `parent` (a remote span context), or the root of a new trace. */
  startSpan(name: SpanName, parent: TraceContext | null, attributes?: SpanAttributes): Span;
  /** Sends what is buffered (shutdown, tests). */
  flush(): Promise<void>;
}

const noop = () => {};

/** Makes up ids (child or new root) and records nothing. */
export const NOOP_TRACER: Tracer = {
  recording: false,
  startSpan: (_name, parent) => ({ context: parent ? childOf(parent) : newTrace(), end: noop }),
  flush: () => Promise.resolve(),
};

// One tracer per service name and process: the all-in-one stack runs several parts in one.
const started = new Map<string, Promise<Tracer>>();

/**
 * The tracer of `service`: OpenTelemetry's when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (loaded
 * here, once), else the no-op tracer. The endpoint is read at start, not per span.
 */
export function tracerFromEnv(service: string, env: NodeJS.ProcessEnv = process.env): Promise<Tracer> {
  const endpoint = readEnv(OTEL_EXPORTER_OTLP_ENDPOINT, env);
  if (endpoint === undefined) return Promise.resolve(NOOP_TRACER);
  const key = `${service}\n${endpoint}`;
  let tracer = started.get(key);
  if (tracer === undefined) {
    tracer = import('./otel.js').then((m) => m.openTelemetryTracer({ service, endpoint, env }));
    started.set(key, tracer);
    tracer.catch(() => started.delete(key));
  }
  return tracer;
}
