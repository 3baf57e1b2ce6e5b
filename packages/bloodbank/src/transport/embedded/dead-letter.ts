export type DeathReason = 'rejected' | 'expired' | 'maxlen';

export interface DeathRecord {
  count: number;
  reason: DeathReason;
  queue: string;
  /** Seconds since the epoch (AMQP timestamp). */
  time: number;
  exchange: string;
  'routing-keys': string[];
}

/** RabbitMQ keeps one entry per (queue, reason), most recent first, with a running count. */
export function addDeath(existing: unknown, death: DeathRecord): DeathRecord[] {
  const list = Array.isArray(existing) ? [...(existing as DeathRecord[])] : [];
  const i = list.findIndex((d) => d && d.queue === death.queue && d.reason === death.reason);
  if (i >= 0) {
    const prev = list[i]!;
    list.splice(i, 1);
    list.unshift({ ...prev, count: (Number(prev.count) || 0) + 1, time: death.time });
  } else {
    list.unshift(death);
  }
  return list;
}

/**
 * Whether dead-lettering into `queue` would close a cycle with no rejection in it, which
 * RabbitMQ drops: `deaths` (most recent first, the death being recorded included) reach back to
 * an earlier death in `queue`, and none of the deaths up to it was a rejection. A queue whose
 * dead letters (expired or over its max-length) route back to itself would otherwise loop for
 * ever; a rejection is a consumer's decision, so a cycle through one is allowed.
 */
export function closesCycle(queue: string, deaths: readonly DeathRecord[]): boolean {
  for (const death of deaths) {
    if (death.reason === 'rejected') return false;
    if (death.queue === queue) return true;
  }
  return false;
}
