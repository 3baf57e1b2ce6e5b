import { AppError } from '@33god/core';
import type { FastifyInstance } from 'fastify';
import { type Cursor, decodeCursor, encodeCursor, type Order, widen } from '../../query/cursor.js';
import { stripExtensions } from '../../storage/event-store.js';
import type { StoredEvent } from '../../storage/types.js';
import type { ApiContext } from '../context.js';
import {
  invalid,
  parseFilter,
  parseInteger,
  parseUuid,
  type Query,
  rejectUnknown,
  single,
} from '../params.js';
import { getEventSchema, listEventsSchema } from '../schemas.js';

const LIST_PARAMS = [
  'type',
  'source',
  'correlation_id',
  'causation_id',
  'trace_id',
  'since',
  'until',
  'limit',
  'cursor',
  'order',
];

export function eventRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/events', { schema: listEventsSchema, config: { access: 'read' } }, async (req) => {
    const query = req.query as Query;
    rejectUnknown(query, LIST_PARAMS, true);
    const filter = parseFilter(query, { time: true, payloadText: false });
    const limitRaw = single(query, 'limit');
    const limit = limitRaw === undefined ? 50 : parseInteger(limitRaw, 'limit', 1, 1000);
    const orderRaw = single(query, 'order');
    if (orderRaw !== undefined && orderRaw !== 'asc' && orderRaw !== 'desc') {
      throw invalid('INVALID_REQUEST', 'order', "must be 'desc' or 'asc'");
    }
    const cursorRaw = single(query, 'cursor');
    const cursor: Cursor | null = cursorRaw === undefined ? null : decodeCursor(cursorRaw);
    if (cursor && orderRaw !== undefined && orderRaw !== cursor.order) {
      throw invalid('INVALID_CURSOR', 'cursor', `this cursor pages a listing in ${cursor.order} order`);
    }
    const order: Order = cursor?.order ?? (orderRaw as Order | undefined) ?? 'desc';
    return page(ctx, filter, order, cursor, limit);
  });

  app.get('/events/:event_id', { schema: getEventSchema, config: { access: 'read' } }, async (req) => {
    const id = parseUuid((req.params as { event_id: string }).event_id, 'event_id', 'INVALID_REQUEST');
    const event = await ctx.store.get(id);
    if (!event) throw new AppError('NOT_FOUND', `no event ${id} is stored`);
    return stripExtensions(event);
  });
}

async function page(
  ctx: ApiContext,
  filter: ReturnType<typeof parseFilter>,
  order: Order,
  cursor: Cursor | null,
  limit: number,
): Promise<{ items: StoredEvent[]; next_cursor: string | null; prev_cursor: string | null }> {
  const back = cursor?.dir === 'prev';
  const rows = await ctx.store.list(filter, {
    order: back ? (order === 'asc' ? 'desc' : 'asc') : order,
    ...(cursor ? { after: cursor.position } : {}),
    limit: limit + 1,
  });
  const more = rows.length > limit;
  const items = rows.slice(0, limit).map(stripExtensions);
  if (back) items.reverse();
  const first = items[0]?.position;
  const last = items.at(-1)?.position;
  const enc = (dir: 'next' | 'prev', position: string) => encodeCursor({ order, dir, position });
  if (!back) {
    return {
      items,
      next_cursor: more && last ? enc('next', last) : null,
      prev_cursor: cursor ? enc('prev', first ?? widen(cursor.position, order, 'prev')) : null,
    };
  }
  return {
    items,
    next_cursor: enc('next', last ?? widen(cursor!.position, order, 'next')),
    prev_cursor: more && first ? enc('prev', first) : null,
  };
}
