import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.js';
import { invalid, parseInteger, parseTime, type Query, rejectUnknown, single } from '../params.js';
import { statsSchema } from '../schemas.js';

const MAX_BUCKETS = 5000;

export function statsRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/stats', { schema: statsSchema, config: { access: 'read' } }, async (req) => {
    const query = req.query as Query;
    rejectUnknown(query, ['since', 'until', 'bucket'], false);
    const untilRaw = single(query, 'until');
    const until = untilRaw === undefined ? new Date() : parseTime(untilRaw, 'until');
    const sinceRaw = single(query, 'since');
    const since =
      sinceRaw === undefined ? new Date(until.getTime() - 24 * 3600_000) : parseTime(sinceRaw, 'since');
    if (since.getTime() >= until.getTime())
      throw invalid('INVALID_FILTER', 'until', 'must be later than since');
    const spanSeconds = (until.getTime() - since.getTime()) / 1000;
    const bucketRaw = single(query, 'bucket');
    const bucket =
      bucketRaw === undefined
        ? Math.max(1, Math.ceil(spanSeconds / 60))
        : parseInteger(bucketRaw, 'bucket', 1, 366 * 24 * 3600);
    if (spanSeconds / bucket > MAX_BUCKETS) {
      throw invalid(
        'INVALID_REQUEST',
        'bucket',
        `too small for this window (more than ${MAX_BUCKETS} buckets)`,
      );
    }
    const { byType, bySource } = await ctx.store.stats(since, until, bucket);
    const total = byType.reduce((n, b) => n + b.count, 0);
    return {
      since: since.toISOString(),
      until: until.toISOString(),
      bucket_seconds: bucket,
      total,
      by_type: byType,
      by_source: bySource,
    };
  });
}
