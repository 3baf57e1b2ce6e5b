import { AppError } from '@33god/core';

/**
 * The broker's safety bound on every queue, whatever its own `maxLength` says: the most
 * ready messages, and the most body bytes, one queue holds before publishes to it are refused.
 */
export interface EmbeddedBrokerLimits {
  maxQueueMessages: number;
  maxQueueBytes: number;
}

export const DEFAULT_EMBEDDED_LIMITS: Readonly<EmbeddedBrokerLimits> = Object.freeze({
  maxQueueMessages: 100_000,
  maxQueueBytes: 64 * 1024 * 1024,
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
