import type amqplib from 'amqplib';
import type { ExchangeOptions, MessageProperties, QueueOptions } from '../transport.js';

// Between the transport's options and properties and amqplib's: no behaviour here.

export function exchangeArgs(o: ExchangeOptions): amqplib.Options.AssertExchange {
  const args: amqplib.Options.AssertExchange = { durable: o.durable ?? true, internal: o.internal ?? false };
  if (o.alternateExchange !== undefined) args.alternateExchange = o.alternateExchange;
  return args;
}

/** The `x-` arguments RabbitMQ stores for a queue declared with these options (also used for definitions files). */
export function queueArguments(o: QueueOptions): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  if (o.messageTtlMs !== undefined) args['x-message-ttl'] = o.messageTtlMs;
  // '' is meaningful: the default exchange, which retry queues dead-letter through.
  if (o.deadLetterExchange !== undefined) args['x-dead-letter-exchange'] = o.deadLetterExchange;
  if (o.deadLetterRoutingKey !== undefined) args['x-dead-letter-routing-key'] = o.deadLetterRoutingKey;
  if (o.maxLength !== undefined) args['x-max-length'] = o.maxLength;
  if (o.queueType !== undefined) args['x-queue-type'] = o.queueType;
  if (o.deliveryLimit !== undefined) args['x-delivery-limit'] = o.deliveryLimit;
  return args;
}

export function queueArgs(o: QueueOptions): amqplib.Options.AssertQueue {
  return {
    durable: o.durable ?? true,
    exclusive: o.exclusive ?? false,
    autoDelete: o.autoDelete ?? false,
    arguments: queueArguments(o),
  };
}

export function toAmqpPublishOptions(
  p: MessageProperties | undefined,
  mandatory: boolean,
): amqplib.Options.Publish {
  const o: amqplib.Options.Publish = { mandatory };
  if (!p) return o;
  if (p.messageId !== undefined) o.messageId = p.messageId;
  if (p.correlationId !== undefined) o.correlationId = p.correlationId;
  if (p.contentType !== undefined) o.contentType = p.contentType;
  if (p.type !== undefined) o.type = p.type;
  if (p.appId !== undefined) o.appId = p.appId;
  if (p.timestamp !== undefined) o.timestamp = p.timestamp;
  if (p.expiration !== undefined) o.expiration = p.expiration;
  if (p.headers !== undefined) o.headers = p.headers;
  if (p.persistent !== undefined) o.persistent = p.persistent;
  return o;
}

export function fromAmqpProperties(p: amqplib.MessageProperties): MessageProperties {
  const o: MessageProperties = {};
  if (p.messageId !== undefined) o.messageId = String(p.messageId);
  if (p.correlationId !== undefined) o.correlationId = String(p.correlationId);
  if (p.contentType !== undefined) o.contentType = String(p.contentType);
  if (p.type !== undefined) o.type = String(p.type);
  if (p.appId !== undefined) o.appId = String(p.appId);
  if (p.timestamp !== undefined) o.timestamp = Number(p.timestamp);
  if (p.expiration !== undefined) o.expiration = String(p.expiration);
  if (p.headers !== undefined) o.headers = plainHeaders(p.headers) as Record<string, unknown>;
  if (p.deliveryMode !== undefined) o.persistent = p.deliveryMode === 2;
  return o;
}

/** amqplib decodes AMQP timestamps as `{ '!': 'timestamp', value }`; the contract wants plain JSON. */
function plainHeaders(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plainHeaders);
  if (v && typeof v === 'object' && !Buffer.isBuffer(v)) {
    const o = v as Record<string, unknown>;
    if (typeof o['!'] === 'string' && 'value' in o) return plainHeaders(o.value);
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o)) out[k] = plainHeaders(x);
    return out;
  }
  return v;
}
