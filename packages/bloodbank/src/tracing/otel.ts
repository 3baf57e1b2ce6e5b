import type { TraceContext } from '@33god/core';
import {
  type Context,
  type Span as OtelSpan,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { Span, SpanAttributes, SpanName, Tracer } from './tracer.js';

/**
 * The OpenTelemetry adapter of the tracing port: spans go through the official SDK's batch
 * processor to an OTLP/HTTP exporter (JSON over HTTP). Loaded only when tracing is on.
 */
export interface OpenTelemetryOptions {
  service: string;
  /** OTLP base URL; spans go to `<endpoint>/v1/traces` unless OTEL_EXPORTER_OTLP_TRACES_ENDPOINT says otherwise. */
  endpoint: string;
  env?: NodeJS.ProcessEnv;
}

const KIND: Record<SpanName, SpanKind> = {
  publish: SpanKind.PRODUCER,
  deliver: SpanKind.CONSUMER,
  handle: SpanKind.INTERNAL,
};

export function openTelemetryTracer(options: OpenTelemetryOptions): Tracer {
  const env = options.env ?? process.env;
  const url = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || `${options.endpoint.replace(/\/+$/, '')}/v1/traces`;
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: options.service,
      [ATTR_SERVICE_VERSION]: '0.1.0',
    }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url }))],
  });
  const tracer = provider.getTracer('@33god/bloodbank');
  return {
    recording: true,
    startSpan(name, parent, attributes) {
      const ctx: Context = parent
        ? trace.setSpanContext(ROOT_CONTEXT, {
            traceId: parent.traceId,
            spanId: parent.spanId,
            traceFlags: parent.flags,
            isRemote: true,
          })
        : ROOT_CONTEXT;
      const span = tracer.startSpan(
        name,
        { kind: KIND[name], attributes: otelAttributes(name, attributes), root: parent === null },
        ctx,
      );
      return wrap(span);
    },
    flush: () => provider.forceFlush(),
  };
}

function wrap(span: OtelSpan): Span {
  const sc = span.spanContext();
  const context: TraceContext = { traceId: sc.traceId, spanId: sc.spanId, flags: sc.traceFlags };
  return {
    context,
    end(error) {
      if (error !== undefined) {
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: error instanceof Error ? error.message : String(error),
        });
      }
      span.end();
    },
  };
}

// Messaging semantic conventions, by name: the incubating constants are not a stable export.
function otelAttributes(name: SpanName, a: SpanAttributes | undefined): Record<string, string> {
  const out: Record<string, string> = {
    'messaging.system': 'rabbitmq',
    'messaging.operation.type': name === 'publish' ? 'send' : name === 'deliver' ? 'receive' : 'process',
  };
  if (a?.event_id) out['messaging.message.id'] = a.event_id;
  if (a?.event_type) {
    out['messaging.rabbitmq.destination.routing_key'] = a.event_type;
    out['bloodbank.event_type'] = a.event_type;
  }
  if (a?.destination) out['messaging.destination.name'] = a.destination;
  return out;
}
