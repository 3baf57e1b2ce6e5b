import { AppError } from '@33god/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { DeadLetter } from '../../dead-letters/describe.js';
import {
  DEFAULT_LIST_LIMIT,
  type DeadLetterOperations,
  MAX_LIST_LIMIT,
  MAX_SCAN,
} from '../../dead-letters/operations.js';
import type { PublishPipeline } from '../pipeline.js';

/** The dashboard's shape of one dead letter (snake case, like the envelope). */
function item(d: DeadLetter) {
  return {
    id: d.id,
    event_id: d.eventId,
    event_type: d.eventType,
    correlation_id: d.correlationId,
    queue: d.queue,
    dlq: d.dlq,
    reason: d.reason,
    error_class: d.errorClass,
    handler: d.handler,
    attempts: d.attempts,
    original_routing_key: d.originalRoutingKey,
    original_exchange: d.originalExchange,
    first_failure_at: d.firstFailureAt,
    last_failure_at: d.lastFailureAt,
    envelope: d.envelope,
    /** The body as text when it is not an envelope (null otherwise: the envelope says it all). */
    body: d.envelope ? null : d.body,
  };
}

function ids(request: FastifyRequest): string[] | undefined {
  const body = request.body as { ids?: unknown } | undefined;
  if (body === undefined || body === null || body.ids === undefined) return undefined;
  if (!Array.isArray(body.ids) || body.ids.some((id) => typeof id !== 'string')) {
    throw new AppError('INVALID_REQUEST', 'ids must be an array of strings', {
      violations: [{ pointer: '/ids', message: 'must be an array of strings' }],
    });
  }
  return body.ids as string[];
}

const idsBody = {
  type: 'object',
  properties: { ids: { type: 'array', items: { type: 'string' } } },
} as const;

export async function deadLetterRoutes(
  app: FastifyInstance,
  o: { pipeline: PublishPipeline; operations: DeadLetterOperations | undefined },
): Promise<void> {
  const ops = (): DeadLetterOperations => {
    if (!o.operations) throw new AppError('SERVICE_UNAVAILABLE', 'dead-letter operations are not configured');
    return o.operations;
  };
  const tags = ['dead letters'];
  app.get(
    '/dead-letters',
    { config: { access: 'read' }, schema: { summary: 'Dead-letter queues and their counts', tags } },
    async () => ({
      queues: (await ops().queues()).map((q) => ({
        queue: q.queue,
        dlq: q.dlq,
        exists: q.exists,
        count: q.messageCount,
      })),
    }),
  );
  app.get<{ Params: { queue: string }; Querystring: { limit?: string; cursor?: string } }>(
    '/dead-letters/:queue',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Dead letters of one queue, a page at a time',
        description: `Oldest first, read without removing them: at most \`limit\` (default ${DEFAULT_LIST_LIMIT}, at most ${MAX_LIST_LIMIT}) and \`next_cursor\` for the next page (null after the last one, and ${MAX_SCAN} messages deep; \`count\` is the queue's size). A stale cursor (its last dead letter has left the queue) is a 400 INVALID_CURSOR.`,
        tags,
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'string', description: `1 to ${MAX_LIST_LIMIT}, default ${DEFAULT_LIST_LIMIT}` },
            cursor: { type: 'string', description: 'next_cursor of the page before' },
          },
        },
      },
    },
    async (request) => {
      const raw = request.query.limit;
      const limit = raw === undefined ? DEFAULT_LIST_LIMIT : Number(raw);
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
        throw new AppError('INVALID_REQUEST', `limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`);
      }
      const cursor = request.query.cursor;
      const page = await ops().listPage(request.params.queue, {
        limit,
        ...(cursor === undefined ? {} : { cursor }),
      });
      return { items: page.items.map(item), next_cursor: page.nextCursor, count: page.count };
    },
  );
  app.get<{ Params: { queue: string; id: string } }>(
    '/dead-letters/:queue/:id',
    { config: { access: 'read' }, schema: { summary: 'One dead letter of a queue, by id', tags } },
    async (request) => item(await ops().show(request.params.queue, request.params.id)),
  );
  app.post<{ Params: { queue: string } }>(
    '/dead-letters/:queue/redrive',
    {
      config: { access: 'operate' },
      schema: {
        summary: 'Send dead letters back to their queue (all, or the given ids)',
        tags,
        body: idsBody,
      },
    },
    async (request) => {
      o.pipeline.authenticate(request);
      const r = await ops().redrive(request.params.queue, ids(request));
      return { redriven: r.count, ids: r.ids, not_found: r.notFound };
    },
  );
  app.delete<{ Params: { queue: string } }>(
    '/dead-letters/:queue',
    {
      config: { access: 'operate' },
      schema: { summary: 'Delete dead letters (all, or the given ids)', tags, body: idsBody },
    },
    async (request) => {
      o.pipeline.authenticate(request);
      const r = await ops().purge(request.params.queue, ids(request));
      return { purged: r.count, ids: r.ids, not_found: r.notFound };
    },
  );
}
