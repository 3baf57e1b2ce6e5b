import type { AccessGuard } from '@33god/core';
import type { FastifyInstance } from 'fastify';
import { seesDetail } from '../access.js';
import type { ApiContext } from '../context.js';
import { healthSchema } from '../schemas.js';

export function operationsRoutes(app: FastifyInstance, ctx: ApiContext, guard: AccessGuard): void {
  // Public for load balancers and the dashboard's probes; what is connected where, and why it
  // fails, only for callers with a token once tokens are configured.
  app.get('/health', { schema: healthSchema, config: { access: 'public' } }, async (req, reply) => {
    const report = await ctx.health();
    reply.code(report.status === 'ok' ? 200 : 503);
    return seesDetail(guard, req) ? report : { status: report.status };
  });

  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics', tags: ['operations'] }, config: { access: 'read' } },
    async (_req, reply) => {
      await ctx.refreshMetrics().catch(() => {});
      reply.type(ctx.metrics.registry.contentType);
      return ctx.metrics.registry.metrics();
    },
  );
}
