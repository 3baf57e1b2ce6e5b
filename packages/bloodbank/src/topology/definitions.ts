import { queueArguments } from '../transport/rabbitmq/transport.js';
import type { TopologyPlan } from './plan.js';

/**
 * A topology plan as a RabbitMQ definitions document (the format of
 * `rabbitmqctl import_definitions` and of `definitions.local.path`), so a cluster can be
 * booted with exactly what `bloodbank topology apply` would declare. Deterministic: the
 * same registry and options give byte-identical JSON.
 */
export interface RabbitMqDefinitions {
  exchanges: {
    name: string;
    vhost: string;
    type: string;
    durable: boolean;
    auto_delete: false;
    internal: boolean;
    arguments: Record<string, unknown>;
  }[];
  queues: {
    name: string;
    vhost: string;
    durable: boolean;
    auto_delete: boolean;
    arguments: Record<string, unknown>;
  }[];
  bindings: {
    source: string;
    vhost: string;
    destination: string;
    destination_type: 'queue';
    routing_key: string;
    arguments: Record<string, never>;
  }[];
}

export function rabbitMqDefinitions(plan: TopologyPlan, vhost = '/'): RabbitMqDefinitions {
  return {
    exchanges: plan.exchanges.map((ex) => ({
      name: ex.name,
      vhost,
      type: ex.type,
      durable: ex.options.durable ?? true,
      auto_delete: false,
      internal: ex.options.internal ?? false,
      arguments: ex.options.alternateExchange ? { 'alternate-exchange': ex.options.alternateExchange } : {},
    })),
    queues: plan.queues.map((q) => ({
      name: q.name,
      vhost,
      durable: q.options.durable ?? true,
      auto_delete: q.options.autoDelete ?? false,
      arguments: queueArguments(q.options),
    })),
    bindings: plan.bindings.map((b) => ({
      source: b.exchange,
      vhost,
      destination: b.queue,
      destination_type: 'queue',
      routing_key: b.pattern,
      arguments: {},
    })),
  };
}
