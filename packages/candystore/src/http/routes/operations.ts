import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.js';
import { healthSchema } from '../schemas.js';

export function operationsRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/health', { schema: healthSchema }, async (_req, reply) => {
    const report = await ctx.health();
    reply.code(report.status === 'ok' ? 200 : 503);
    return report;
  });

  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics', tags: ['operations'] } },
    async (_req, reply) => {
      await ctx.refreshMetrics().catch(() => {});
      reply.type(ctx.metrics.registry.contentType);
      return ctx.metrics.registry.metrics();
    },
  );
}
