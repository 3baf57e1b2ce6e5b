import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { StreamSlots, streamClientKey } from '../../stream/limits.js';
import { CLOSE_SERVER_ERROR, type StreamMessage, StreamSession } from '../../stream/session.js';
import type { ApiContext } from '../context.js';
import { parseBoolean, parseFilter, parsePosition, type Query, rejectUnknown, single } from '../params.js';
import { streamSchema } from '../schemas.js';

const STREAM_PARAMS = [
  'type',
  'source',
  'correlation_id',
  'causation_id',
  'trace_id',
  'payload_text',
  'from',
  'batch',
];

export function streamRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { maxPerClient, maxTotal, ...sessionLimits } = ctx.stream;
  const slots = new StreamSlots({ maxPerClient, maxTotal });
  app.get(
    '/stream',
    {
      websocket: true,
      schema: streamSchema,
      config: { access: 'read' },
      // Bad parameters are answered with a 400 problem before the upgrade.
      preValidation: async (req) => {
        const query = req.query as Query;
        rejectUnknown(query, STREAM_PARAMS, true);
        parseFilter(query, { time: false, payloadText: true });
        const from = single(query, 'from');
        if (from !== undefined && from !== 'now') parsePosition(from, 'from');
        parseBoolean(query, 'batch', false);
      },
      // A stream takes its slot here: after the access hook (onRequest) has named the principal,
      // and before the upgrade, so a client over its share gets a 429 problem, not a socket.
      preHandler: async (req) => {
        if (!req.ws) return;
        const release = slots.acquire(streamClientKey(req));
        // Every way a stream can end (refused by a later hook, upgrade failed, WebSocket closed
        // by either side) closes this TCP socket, so its close gives the slot back, once.
        const tcp = req.raw.socket;
        if (tcp.destroyed) release();
        else tcp.once('close', release);
      },
    },
    (socket, req) => {
      const query = req.query as Query;
      const filter = parseFilter(query, { time: false, payloadText: true });
      const fromRaw = single(query, 'from');
      const from = fromRaw === undefined || fromRaw === 'now' ? 'now' : BigInt(fromRaw).toString();
      const frames = frameWriter(socket, parseBoolean(query, 'batch', false));
      const session = new StreamSession({
        store: ctx.store,
        tail: ctx.tail,
        filter,
        from,
        ...sessionLimits,
        sink: {
          send: frames.send,
          bufferedAmount: frames.bufferedAmount,
          close: (code, reason) => {
            frames.flush();
            socket.close(code, reason);
          },
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

/**
 * One frame per message, or with `batch=true` one frame per synchronous run of messages: the
 * session sends a commit batch (or a catch-up page) in one go, so it leaves as one JSON array
 * (a lone message stays an object). At a thousand events a second that is one socket write and
 * one client task per batch instead of per event.
 */
function frameWriter(socket: WebSocket, batch: boolean) {
  let pending: string[] = [];
  let pendingBytes = 0;
  const flush = () => {
    if (pending.length === 0) return;
    const frame = pending.length === 1 ? pending[0]! : `[${pending.join(',')}]`;
    pending = [];
    pendingBytes = 0;
    if (socket.readyState === socket.OPEN) socket.send(frame);
  };
  return {
    send(m: StreamMessage): void {
      if (socket.readyState !== socket.OPEN) return;
      const text = JSON.stringify(m);
      if (!batch) {
        socket.send(text);
        return;
      }
      if (pending.length === 0) queueMicrotask(flush);
      pending.push(text);
      pendingBytes += text.length;
    },
    bufferedAmount: () => socket.bufferedAmount + pendingBytes,
    flush,
  };
}
