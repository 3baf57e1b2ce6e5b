import { AppError, isUuid } from '@33god/core';
import type { FastifyInstance } from 'fastify';
import type { ReplayTarget } from '../../replay/replayer.js';
import type { ApiContext } from '../context.js';
import { invalid, parseReplayFilter, parseTime } from '../params.js';
import { deleteReplaySchema, getReplaySchema, postReplaySchema } from '../schemas.js';

interface ReplayBody {
  filter?: Record<string, unknown>;
  since?: string;
  until?: string;
  target: ReplayTarget;
  rate_per_second?: number;
}

const NAME = /^[A-Za-z0-9._:-]{1,255}$/;

export function replayRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const replayer = () => {
    if (!ctx.replayer) throw new AppError('SERVICE_UNAVAILABLE', 'replays need a broker connection');
    return ctx.replayer;
  };

  app.post('/replays', { schema: postReplaySchema, config: { access: 'operate' } }, async (req, reply) => {
    const body = req.body as ReplayBody;
    const filter = parseReplayFilter(body.filter ?? {});
    if (body.since !== undefined) filter.since = parseTime(body.since, 'since');
    if (body.until !== undefined) filter.until = parseTime(body.until, 'until');
    if (filter.since && filter.until && filter.since >= filter.until) {
      throw invalid('INVALID_FILTER', 'until', 'must be later than since');
    }
    const target = body.target;
    const name = 'exchange' in target ? target.exchange : target.queue;
    if (!NAME.test(name)) {
      throw invalid(
        'INVALID_REQUEST',
        'exchange' in target ? 'target/exchange' : 'target/queue',
        'must be a name of letters, digits and . _ : -',
      );
    }
    const info = await replayer().start({
      filter,
      target,
      ...(body.rate_per_second ? { ratePerSecond: body.rate_per_second } : {}),
    });
    reply.code(202).header('location', `/replays/${info.id}`);
    return info;
  });

  app.get('/replays/:id', { schema: getReplaySchema, config: { access: 'read' } }, async (req) => {
    const id = replayId(req.params);
    const info = await replayer().get(id);
    if (!info) throw new AppError('REPLAY_NOT_FOUND', `no replay ${id}`);
    return info;
  });

  app.delete('/replays/:id', { schema: deleteReplaySchema, config: { access: 'operate' } }, async (req) => {
    const id = replayId(req.params);
    const info = await replayer().cancel(id);
    if (!info) throw new AppError('REPLAY_NOT_FOUND', `no replay ${id}`);
    return info;
  });
}

function replayId(params: unknown): string {
  const id = (params as { id: string }).id;
  if (!isUuid(id)) throw invalid('INVALID_REQUEST', 'id', 'must be a UUID');
  return id.toLowerCase();
}
