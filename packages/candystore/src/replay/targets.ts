import { AppError } from '@33god/core';
import type { ServiceRegistry } from '@33god/holyfields';
import type { ReplayTarget } from '../storage/types.js';

/**
 * Where replays may publish. A replay republishes stored events with their original
 * headers, so a free choice of target would let any caller of `POST /replays` feed any
 * queue or exchange of the broker (another system's, a dead-letter queue) with them.
 */
export interface ReplayTargets {
  /** The store's main exchange: every service bound to it sees the copies, as it saw the events. */
  readonly exchanges: readonly string[];
  /** The queues of the services in the registry: one service gets the copies. */
  readonly queues: readonly string[];
}

/** The store's exchange and every queue of the registry's services (none without a registry). */
export function replayTargets(exchange: string, registry: ServiceRegistry | null): ReplayTargets {
  const queues = new Set<string>();
  for (const s of registry?.services ?? []) for (const q of s.queues) queues.add(q);
  return { exchanges: [exchange], queues: [...queues].sort() };
}

/** REPLAY_TARGET_FORBIDDEN naming what is allowed, or null when `target` is. */
export function forbiddenTarget(target: ReplayTarget, allowed: ReplayTargets): AppError | null {
  const ok =
    'exchange' in target
      ? allowed.exchanges.includes(target.exchange)
      : allowed.queues.includes(target.queue);
  if (ok) return null;
  const asked = 'exchange' in target ? `exchange '${target.exchange}'` : `queue '${target.queue}'`;
  const exchanges = allowed.exchanges.map((x) => `'${x}'`).join(', ');
  const queues = allowed.queues.length
    ? `, or one of the service queues of the registry: ${allowed.queues.join(', ')}`
    : ' (the registry lists no service queue)';
  return new AppError(
    'REPLAY_TARGET_FORBIDDEN',
    `a replay may not publish to the ${asked}; it may publish to the exchange ${exchanges}${queues}`,
    { extra: { allowed: { exchanges: [...allowed.exchanges], queues: [...allowed.queues] } } },
  );
}
