import { AppError } from '@33god/core';
import type { FastifyInstance } from 'fastify';
import { buildCorrelationTree } from '../../query/correlation-tree.js';
import type { ApiContext } from '../context.js';
import { parseUuid, type Query, rejectUnknown } from '../params.js';
import { correlationSchema } from '../schemas.js';

/** Larger groups are cut at this many events (by time) and marked `truncated`. */
export const MAX_CORRELATION_EVENTS = 5000;

export function correlationRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get(
    '/correlations/:correlation_id',
    { schema: correlationSchema, config: { access: 'read' } },
    async (req) => {
      rejectUnknown(req.query as Query, [], false);
      const raw = (req.params as { correlation_id: string }).correlation_id;
      const id = parseUuid(raw, 'correlation_id', 'INVALID_CORRELATION_ID');
      const rows = await ctx.store.correlation(id, MAX_CORRELATION_EVENTS + 1);
      if (rows.length === 0) throw new AppError('NOT_FOUND', `no event with correlation id ${id} is stored`);
      const truncated = rows.length > MAX_CORRELATION_EVENTS;
      const timeline = truncated ? rows.slice(0, MAX_CORRELATION_EVENTS) : rows;
      const inGroup = new Set(timeline.map((e) => e.event_id));
      const outside = [
        ...new Set(timeline.map((e) => e.causation_id).filter((c): c is string => !!c && !inGroup.has(c))),
      ];
      const elsewhere = await ctx.store.existingIds(outside);
      const tree = buildCorrelationTree(timeline, elsewhere);
      return {
        correlation_id: id,
        count: timeline.length,
        truncated,
        roots: tree.roots,
        timeline,
        gaps: tree.gaps,
      };
    },
  );
}
