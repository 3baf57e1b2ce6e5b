import type { QueueType } from '../transport/transport.js';

/**
 * The part of Holyfields' `ServiceRegistry` the topology reads. Declared here
 * structurally so the topology can also be planned from a registry built in code.
 */
export interface TopologyService {
  readonly id: string;
  readonly status?: string;
  readonly queues: readonly string[];
  readonly routingKeys: readonly string[];
  readonly queue?: {
    /** null: no TTL. */
    readonly messageTtlMs?: number | null;
    readonly queueType?: QueueType;
    readonly maxAttempts?: number;
  };
  /** HTTP push subscription (docs/push.md); its routing keys are already in `routingKeys`. */
  readonly push?: {
    readonly url: string;
    readonly routingKeys?: readonly string[];
    readonly concurrency?: number;
    readonly timeoutMs?: number;
    readonly secretEnv?: string;
    readonly ordered?: boolean;
  };
}

export interface TopologyRegistry {
  readonly exchange?: { readonly name?: string; readonly type?: string; readonly durable?: boolean };
  readonly services: readonly TopologyService[];
}
