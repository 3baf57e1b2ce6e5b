/** Names derived from a service queue; one place so the SDK, topology and dead-letter tools agree. */

export function dlqName(queue: string): string {
  return `${queue}.dlq`;
}

/** The queue a `<queue>.dlq` belongs to, or null when the name is not a dead-letter queue. */
export function queueOfDlq(dlq: string): string | null {
  return dlq.endsWith('.dlq') && dlq.length > 4 ? dlq.slice(0, -4) : null;
}

export function retryQueueName(queue: string, tierMs: number): string {
  return `${queue}.retry.${formatDuration(tierMs)}`;
}

/** `250ms`, `1s`, `90s`, `10m`, `2h`: short, exact, and readable in the management UI. */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
