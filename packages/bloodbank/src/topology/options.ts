import { AppError, readEnv } from '@33god/core';
import type { QueueType } from '../transport/transport.js';
import {
  BLOODBANK_DLX,
  BLOODBANK_EXCHANGE,
  BLOODBANK_MESSAGE_TTL_MS,
  BLOODBANK_QUEUE_TYPE,
} from './config.js';

export interface TopologyOptions {
  /** The topic exchange events are published to. Default `bloodbank.events.v1`. */
  exchange?: string;
  /** The dead-letter exchange (topic). Default `bloodbank.dlx`. */
  dlx?: string;
  /**
   * The alternate exchange of the events exchange: events that match no binding go
   * there (fanout) and into the queue of the same name instead of being dropped.
   * Default `<exchange>.unroutable` (`bloodbank.events.v1.unroutable`).
   */
  unroutable?: string;
  /** TTL of messages in the unroutable queue. Default 7 days. */
  unroutableTtlMs?: number;
  /** Queue type of every queue declared. Default `BLOODBANK_QUEUE_TYPE` or classic. */
  queueType?: QueueType;
  /** Default message TTL of service queues. Default `BLOODBANK_MESSAGE_TTL_MS` or 24 h. */
  messageTtlMs?: number;
  /**
   * Delay tiers of the retry queues, in ms, ascending. A failed message waits in the
   * smallest tier at least as long as its backoff delay (the per-message expiration
   * gives the exact delay, the tier's queue TTL bounds it). Default 1 s, 10 s, 1 min, 10 min.
   */
  retryTiersMs?: readonly number[];
  /**
   * The queue bound `#` on the dead-letter exchange that the dead-letter monitor reads.
   * Default `<dlx>.monitor`; `false` declares none.
   */
  monitorQueue?: string | false | null;
  /** Registry services with these statuses get no queues. Default `['deprecated']`. */
  skipStatuses?: readonly string[];
}

export type ResolvedTopologyOptions = Required<Omit<TopologyOptions, 'monitorQueue'>> & {
  monitorQueue: string | null;
};

export const DEFAULT_RETRY_TIERS_MS: readonly number[] = [1000, 10_000, 60_000, 600_000];
export const DEFAULT_UNROUTABLE_TTL_MS = 7 * 24 * 60 * 60 * 1000;

/** Defaults first (environment, then built-in), then validation. */
export function resolveTopologyOptions(
  options: TopologyOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): ResolvedTopologyOptions {
  const exchange = options.exchange ?? readEnv(BLOODBANK_EXCHANGE, env)!;
  const dlx = options.dlx ?? readEnv(BLOODBANK_DLX, env)!;
  const tiers = [...(options.retryTiersMs ?? DEFAULT_RETRY_TIERS_MS)];
  const resolved: ResolvedTopologyOptions = {
    exchange,
    dlx,
    unroutable: options.unroutable ?? `${exchange}.unroutable`,
    unroutableTtlMs: options.unroutableTtlMs ?? DEFAULT_UNROUTABLE_TTL_MS,
    queueType: options.queueType ?? readEnv(BLOODBANK_QUEUE_TYPE, env)!,
    messageTtlMs: options.messageTtlMs ?? readEnv(BLOODBANK_MESSAGE_TTL_MS, env)!,
    retryTiersMs: tiers,
    monitorQueue:
      options.monitorQueue === false || options.monitorQueue === null
        ? null
        : (options.monitorQueue ?? `${dlx}.monitor`),
    skipStatuses: options.skipStatuses ?? ['deprecated'],
  };
  if (!exchange || !dlx || exchange === dlx) {
    throw new AppError(
      'CONFIG_INVALID',
      'the events exchange and the dead-letter exchange need two different names',
    );
  }
  if (
    tiers.length === 0 ||
    tiers.some((t, i) => !Number.isInteger(t) || t <= 0 || (i > 0 && t <= tiers[i - 1]!))
  ) {
    throw new AppError(
      'CONFIG_INVALID',
      `retry tiers must be ascending whole milliseconds > 0, got ${tiers.join(', ')}`,
    );
  }
  if (resolved.queueType !== 'classic' && resolved.queueType !== 'quorum') {
    throw new AppError(
      'CONFIG_INVALID',
      `queue type must be classic or quorum, got '${String(resolved.queueType)}'`,
    );
  }
  return resolved;
}
