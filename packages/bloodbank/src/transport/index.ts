export {
  AMQP_MANAGEMENT_URL,
  BLOODBANK_EMBEDDED_MAX_QUEUE_BYTES,
  BLOODBANK_EMBEDDED_MAX_QUEUE_MESSAGES,
  BLOODBANK_EMBEDDED_STORAGE,
  embeddedLimitsFromEnv,
  transportOptionsFromEnv,
} from './config.js';
export { type CreateTransportOptions, createTransport } from './create.js';
export {
  DEFAULT_EMBEDDED_LIMITS,
  type DeathReason,
  type DeathRecord,
  EmbeddedBroker,
  type EmbeddedBrokerLimits,
  type EmbeddedBrokerOptions,
  type EmbeddedBrokerStats,
  sharedEmbeddedBroker,
} from './embedded/broker.js';
export { type EmbeddedStorage, type OpenEmbeddedBrokerOptions, openEmbeddedBroker } from './embedded/open.js';
export {
  createEmbeddedTransport,
  DURABLE_EMBEDDED_FEATURES,
  EMBEDDED_FEATURES,
  type EmbeddedTransportOptions,
} from './embedded/transport.js';
export {
  createRabbitMqTransport,
  RABBITMQ_FEATURES,
  type RabbitMqTransportOptions,
} from './rabbitmq/transport.js';
export { redactUrl } from './rabbitmq/url.js';
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
} from './transport.js';
export {
  type ConnectionLogger,
  logConnectionState,
  type WhenConnected,
  type WhenConnectedOptions,
  whenConnected,
} from './when-connected.js';
