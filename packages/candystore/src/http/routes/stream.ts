import type { FastifyInstance } from 'fastify';
import { CLOSE_SERVER_ERROR, type StreamMessage, StreamSession } from '../../stream/session.js';
import type { ApiContext } from '../context.js';
import { parseFilter, parsePosition, type Query, rejectUnknown, single } from '../params.js';
import { streamSchema } from '../schemas.js';

const STREAM_PARAMS = ['type', 'source', 'correlation_id', 'causation_id', 'payload_text', 'from'];

export function streamRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get(
    '/stream',
    {
      websocket: true,
      schema: streamSchema,
      // Bad parameters are answered with a 400 problem before the upgrade.
      preValidation: async (req) => {
        const query = req.query as Query;
        rejectUnknown(query, STREAM_PARAMS, true);
        parseFilter(query, { time: false, payloadText: true });
        const from = single(query, 'from');
        if (from !== undefined && from !== 'now') parsePosition(from, 'from');
      },
    },
    (socket, req) => {
      const query = req.query as Query;
      const filter = parseFilter(query, { time: false, payloadText: true });
      const fromRaw = single(query, 'from');
      const from = fromRaw === undefined || fromRaw === 'now' ? 'now' : BigInt(fromRaw).toString();
      const session = new StreamSession({
        store: ctx.store,
        tail: ctx.tail,
        filter,
        from,
        ...ctx.stream,
        sink: {
          send: (m: StreamMessage) => {
            if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(m));
          },
          bufferedAmount: () => socket.bufferedAmount,
          close: (code, reason) => socket.close(code, reason),
        },
      });
      ctx.metrics.streamClients.inc();
      socket.on('close', () => {
        session.close();
        ctx.metrics.streamClients.dec();
      });
      socket.on('error', () => session.close());
      // Client messages are not part of the protocol; ignore them.
      socket.on('message', () => {});
      session.start().catch((err: unknown) => {
        req.log.warn({ err: (err as Error).message }, 'stream session failed');
        if (socket.readyState === socket.OPEN) socket.close(CLOSE_SERVER_ERROR, 'store unavailable');
      });
    },
  );
}
