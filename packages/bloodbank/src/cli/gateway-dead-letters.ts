import {
  AppError,
  ERROR_CATALOGUE,
  type ErrorCode,
  type EventEnvelope,
  type ProblemDocument,
} from '@33god/core';
import type { DeadLetter } from '../dead-letters/describe.js';
import {
  DEFAULT_LIST_LIMIT,
  type DeadLetterActionResult,
  type DeadLetterOperations,
  type DeadLetterQueueInfo,
} from '../dead-letters/operations.js';
import { networkReason } from './health.js';

/** One dead letter as `GET /dead-letters/...` answers it (see gateway/routes/dead-letters.ts). */
interface DeadLetterItem {
  id: string;
  event_id: string | null;
  event_type: string | null;
  correlation_id?: string | null;
  queue: string;
  dlq: string;
  reason: string;
  error_class: string;
  handler: string | null;
  attempts: number | null;
  original_routing_key: string | null;
  original_exchange?: string | null;
  first_failure_at: string | null;
  last_failure_at: string | null;
  envelope: EventEnvelope | null;
  body?: string | null;
}

function fromItem(i: DeadLetterItem): DeadLetter {
  return {
    id: i.id,
    queue: i.queue,
    dlq: i.dlq,
    eventId: i.event_id,
    eventType: i.event_type,
    correlationId: i.correlation_id ?? i.envelope?.correlation_id ?? null,
    reason: i.reason,
    errorClass: i.error_class,
    handler: i.handler,
    attempts: i.attempts,
    originalRoutingKey: i.original_routing_key,
    originalExchange: i.original_exchange ?? null,
    firstFailureAt: i.first_failure_at,
    lastFailureAt: i.last_failure_at,
    envelope: i.envelope,
    body: i.body ?? (i.envelope ? JSON.stringify(i.envelope) : ''),
    // The gateway does not send the raw AMQP headers; the fields above are what they say.
    headers: {},
  };
}

function fromAction(r: { ids?: string[]; not_found?: string[] }, count: number): DeadLetterActionResult {
  return { ids: r.ids ?? [], notFound: r.not_found ?? [], count };
}

/**
 * The dead-letter operations of a running gateway, over its HTTP API: how `bb dlq` reaches
 * the broker of a process it cannot connect to itself (the embedded broker of `npm start`).
 * Errors come back as the gateway's AppErrors, so the CLI prints the same lines either way.
 */
export function gatewayDeadLetterOperations(
  baseUrl: string,
  options: { token?: string; timeoutMs?: number } = {},
): DeadLetterOperations {
  const base = baseUrl.replace(/\/+$/, '');
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
      });
    } catch (err) {
      throw new AppError(
        'SERVICE_UNAVAILABLE',
        `cannot reach the gateway at ${base} (${networkReason(err)})`,
      );
    }
    const parsed = (await res.json().catch(() => null)) as unknown;
    if (!res.ok) {
      const p = (parsed ?? {}) as Partial<ProblemDocument>;
      const code = p.code && p.code in ERROR_CATALOGUE ? (p.code as ErrorCode) : undefined;
      if (code) throw new AppError(code, p.detail, { violations: p.errors ?? [] });
      throw new AppError('SERVICE_UNAVAILABLE', `the gateway at ${base} answered HTTP ${res.status}`);
    }
    if (parsed === null || typeof parsed !== 'object') {
      throw new AppError('SERVICE_UNAVAILABLE', `the gateway at ${base} answered something that is not JSON`);
    }
    return parsed as T;
  };
  const q = (queue: string) => encodeURIComponent(queue);
  const idsBody = (ids: readonly string[] | undefined) => (ids ? { ids: [...ids] } : {});
  const listPage: DeadLetterOperations['listPage'] = async (queue, options = {}) => {
    const query = new URLSearchParams({ limit: String(options.limit ?? DEFAULT_LIST_LIMIT) });
    if (options.cursor !== undefined) query.set('cursor', options.cursor);
    const r = await call<{ items: DeadLetterItem[]; next_cursor?: string | null; count?: number }>(
      'GET',
      `/dead-letters/${q(queue)}?${query}`,
    );
    return {
      items: r.items.map(fromItem),
      nextCursor: r.next_cursor ?? null,
      count: r.count ?? r.items.length,
    };
  };

  return {
    async queues(): Promise<DeadLetterQueueInfo[]> {
      const r = await call<{ queues: { queue: string; dlq: string; exists: boolean; count: number }[] }>(
        'GET',
        '/dead-letters',
      );
      return r.queues.map((x) => ({ queue: x.queue, dlq: x.dlq, exists: x.exists, messageCount: x.count }));
    },
    async list(queue, limit = DEFAULT_LIST_LIMIT) {
      return (await listPage(queue, { limit })).items;
    },
    listPage,
    async show(queue, id) {
      return fromItem(
        await call<DeadLetterItem>('GET', `/dead-letters/${q(queue)}/${encodeURIComponent(id)}`),
      );
    },
    async redrive(queue, ids) {
      const r = await call<{ redriven: number; ids?: string[]; not_found?: string[] }>(
        'POST',
        `/dead-letters/${q(queue)}/redrive`,
        idsBody(ids),
      );
      return fromAction(r, r.redriven);
    },
    async purge(queue, ids) {
      const r = await call<{ purged: number; ids?: string[]; not_found?: string[] }>(
        'DELETE',
        `/dead-letters/${q(queue)}`,
        idsBody(ids),
      );
      return fromAction(r, r.purged);
    },
  };
}
