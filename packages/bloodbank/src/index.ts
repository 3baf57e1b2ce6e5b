// The one public entry of @33god/bloodbank. Every export is named; sibling packages
// that need internals use `@33god/bloodbank/internal`.

// --- HTTP gateway, auth, metrics, webhooks ---
// Declared in @33god/core with the other access variables; re-exported where it always was.
export { BLOODBANK_AUTH_TOKENS } from '@33god/core';
export { parseRateLimit, type RateLimit, RateLimiter } from './auth/rate-limit.js';
export { gatewayOptionsFromEnv } from './cli/serve.js';
// --- dead letters ---
export {
  type DeadLetterOptions,
  type DeadLetterReason,
  deadLetter,
  deadLetterMessage,
  publishDeadLetter,
} from './dead-letters/dead-letter.js';
export { type DeadLetter, deadLetterId, describeDeadLetter } from './dead-letters/describe.js';
export { attemptOf, cleanHeaders, DEAD_LETTER_HEADERS } from './dead-letters/headers.js';
export {
  type DeadLetterEventPayload,
  type DeadLetterMonitor,
  type DeadLetterMonitorOptions,
  DLQ_EVENT_TYPE,
  deadLetterEvent,
  startDeadLetterMonitor,
} from './dead-letters/monitor.js';
export {
  createDeadLetterOperations,
  type DeadLetterActionResult,
  type DeadLetterListOptions,
  type DeadLetterOperations,
  type DeadLetterOperationsOptions,
  type DeadLetterPage,
  type DeadLetterQueueInfo,
  MAX_LIST_LIMIT,
} from './dead-letters/operations.js';
export {
  BLOODBANK_BATCH_MAX,
  BLOODBANK_BODY_LIMIT,
  BLOODBANK_HEALTH_INTERVAL,
  BLOODBANK_HOST,
  BLOODBANK_PORT,
  BLOODBANK_RATE_LIMIT,
  GITHUB_WEBHOOK_SECRET,
  PLANE_WEBHOOK_SECRET,
} from './gateway/config.js';
export { acceptedId } from './gateway/envelope-input.js';
export { type EnvelopePublisher, transportPublisher } from './gateway/publisher.js';
export { type HealthReport, healthReport } from './gateway/routes/health.js';
export type { SchemaSummary } from './gateway/routes/schemas.js';
export {
  type GatewaySchemaRegistry,
  type GatewayServiceRegistry,
  SchemaStore,
  type SchemaStoreOptions,
  type SchemaStoreStatus,
} from './gateway/schema-store.js';
export {
  buildGateway,
  DEFAULT_EXCHANGE,
  type Gateway,
  type GatewayOptions,
  HEALTH_EVENT,
  SCHEMA_UPDATED_EVENT,
  startGateway,
} from './gateway/server.js';
export { GatewayMetrics } from './metrics/gateway-metrics.js';
// --- middleware ---
export {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  type RetryPolicy,
  resolveRetryPolicy,
  tierFor,
} from './middleware/backoff.js';
export { currentEvent, inheritedCorrelation, withEventScope } from './middleware/correlation.js';
export { type DeadLetterMiddlewareOptions, deadLetterOnFailure } from './middleware/dead-letter.js';
export { decodeEnvelope, envelopeViolations, parseEnvelope } from './middleware/decode.js';
export {
  errorClassOf,
  errorReasonOf,
  isRetryable,
  NonRetryableError,
  RequeueSignal,
  RetryableError,
} from './middleware/errors.js';
export {
  ConsumerStoppedError,
  type RedeliveryGuardOptions,
  redeliveryGuard,
} from './middleware/redelivery.js';
export { type RetryOptions, retry } from './middleware/retry.js';
export { currentHandleSpan, tracing } from './middleware/tracing.js';
export { compose, type MessageContext, type MessageHandler, type Middleware } from './middleware/types.js';
// --- push subscriptions (docs/push.md) ---
export type { CircuitBreakerOptions } from './push/circuit-breaker.js';
export {
  BLOODBANK_PUSH,
  type PushSubscriptionConfig,
  resolvePushSubscriptions,
} from './push/config.js';
export { PushMetrics, type PushState } from './push/metrics.js';
export { type PushService, type PushServiceOptions, startPushService } from './push/service.js';
export { decodeWebhookSecret, signWebhook } from './push/signature.js';
export type { PushFailure, PushSubscriptionStatus } from './push/worker.js';
export { type ConnectOptions, connect } from './sdk/bus.js';
// --- SDK ---
export {
  BLOODBANK_PUBLISH_TIMEOUT_MS,
  BLOODBANK_UNKNOWN_TYPES,
} from './sdk/config.js';
export {
  type ClaimResult,
  type IdempotencyStore,
  type IdempotentOptions,
  idempotent,
  MemoryIdempotencyStore,
} from './sdk/idempotency.js';
export type { BusLogger } from './sdk/logger.js';
export { checkBrokerUrl, openTransport } from './sdk/transport.js';
export type {
  AnyEventMap,
  Bus,
  EventHandler,
  EventSchemas,
  EventStream,
  EventsOptions,
  HandlerContext,
  PublishEnvelopeOptions,
  PublishOptions,
  SubscribeOptions,
  Subscription,
  UnknownTypePolicy,
} from './sdk/types.js';
// --- topology ---
export {
  applyPlan,
  applyTopology,
  checkPlan,
  checkTopology,
  ensureExchanges,
  ensureQueue,
  formatTopologyReport,
  type TopologyReport,
  type TopologySummary,
} from './topology/apply.js';
export {
  BLOODBANK_DLX,
  BLOODBANK_EXCHANGE,
  BLOODBANK_MESSAGE_TTL_MS,
  BLOODBANK_QUEUE_TYPE,
} from './topology/config.js';
export { type RabbitMqDefinitions, rabbitMqDefinitions } from './topology/definitions.js';
export { dlqName, formatDuration, queueOfDlq, retryQueueName } from './topology/names.js';
export {
  DEFAULT_RETRY_TIERS_MS,
  DEFAULT_UNROUTABLE_TTL_MS,
  type ResolvedTopologyOptions,
  resolveTopologyOptions,
  type TopologyOptions,
} from './topology/options.js';
export {
  mergePlans,
  type PlannedBinding,
  type PlannedExchange,
  type PlannedQueue,
  planExchanges,
  planQueue,
  planTopology,
  type QueueSettings,
  type TopologyPlan,
} from './topology/plan.js';
export type { TopologyRegistry, TopologyService } from './topology/registry.js';
// --- tracing (docs/gateway.md, "Trace context") ---
export {
  NOOP_TRACER,
  OTEL_EXPORTER_OTLP_ENDPOINT,
  type Span,
  type SpanAttributes,
  type SpanName,
  type Tracer,
  tracerFromEnv,
} from './tracing/tracer.js';
export {
  AMQP_MANAGEMENT_URL,
  BLOODBANK_EMBEDDED_MAX_QUEUE_BYTES,
  BLOODBANK_EMBEDDED_MAX_QUEUE_MESSAGES,
  BLOODBANK_EMBEDDED_STORAGE,
  type ConnectionLogger,
  type CreateTransportOptions,
  createEmbeddedTransport,
  createRabbitMqTransport,
  createTransport,
  DEFAULT_EMBEDDED_LIMITS,
  type DeathReason,
  type DeathRecord,
  DURABLE_EMBEDDED_FEATURES,
  EMBEDDED_FEATURES,
  EmbeddedBroker,
  type EmbeddedBrokerLimits,
  type EmbeddedBrokerOptions,
  type EmbeddedBrokerStats,
  type EmbeddedStorage,
  type EmbeddedTransportOptions,
  embeddedLimitsFromEnv,
  logConnectionState,
  type OpenEmbeddedBrokerOptions,
  openEmbeddedBroker,
  RABBITMQ_FEATURES,
  type RabbitMqTransportOptions,
  redactUrl,
  sharedEmbeddedBroker,
  transportOptionsFromEnv,
  type WhenConnected,
  type WhenConnectedOptions,
  whenConnected,
} from './transport/index.js';
// --- transport (contract; implementations are exported by the transport's own section) ---
export {
  type BindingInfo,
  type ConsumeOptions,
  type Consumer,
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_PREFETCH,
  type Delivery,
  type DeliveryHandler,
  type ExchangeOptions,
  type ExchangeType,
  type MessageProperties,
  type OutgoingMessage,
  type QueueInfo,
  type QueueOptions,
  type QueueType,
  type Transport,
  type TransportFeatures,
  type TransportState,
} from './transport/transport.js';
export { DeliveryLru } from './webhooks/dedup.js';
export {
  deliveryKey,
  WEBHOOK_ID_NAMESPACE,
  WebhookIngestor,
  type WebhookIngestorOptions,
  type WebhookResult,
  webhookEventId,
} from './webhooks/ingest.js';
export {
  type BodyField,
  DEFAULT_PROVIDERS,
  type FieldSource,
  GITHUB_PROVIDER,
  PLANE_PROVIDER,
  type SignatureScheme,
  type WebhookProvider,
} from './webhooks/providers.js';
export { signBody, verifySignature } from './webhooks/signature.js';
