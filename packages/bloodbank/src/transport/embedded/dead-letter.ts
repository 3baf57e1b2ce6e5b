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
