import { AppError } from '@33god/core';

/**
 * The broker's safety bounds, whatever a queue's own `maxLength` says: the most ready
 * messages, and the most body bytes, that one queue holds, and that all queues together hold,
 * before a publish that would add to them is refused. The per-queue bound keeps one stalled
 * consumer from taking the whole budget; the total keeps many of them from taking the process.
 */
export interface EmbeddedBrokerLimits {
  maxQueueMessages: number;
  maxQueueBytes: number;
  maxTotalMessages: number;
  maxTotalBytes: number;
}

export const DEFAULT_EMBEDDED_LIMITS: Readonly<EmbeddedBrokerLimits> = Object.freeze({
  maxQueueMessages: 100_000,
  maxQueueBytes: 64 * 1024 * 1024,
  maxTotalMessages: 250_000,
  maxTotalBytes: 128 * 1024 * 1024,
});

export function checkLimits(limits: Partial<EmbeddedBrokerLimits>): EmbeddedBrokerLimits {
  const out = { ...DEFAULT_EMBEDDED_LIMITS, ...limits };
  for (const [k, v] of Object.entries(out)) {
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new AppError('CONFIG_INVALID', `${k} must be a whole number >= 1, got ${v}`);
    }
  }
  return out;
}
