import { AppError } from '@33god/core';

/**
 * Where a page of dead letters ended: how many messages of the queue came before the next
 * page, and the id of the last dead letter listed (the anchor the next page starts after).
 * A queue has no other address for a message than its place from the head; the anchor keeps
 * the next page right when dead letters ahead of it have left the queue meanwhile.
 */
export interface DeadLetterCursor {
  offset: number;
  after: string;
}

/** Longest cursor accepted: an offset and one message id. */
const MAX_CURSOR_LENGTH = 2048;

export function encodeDeadLetterCursor(c: DeadLetterCursor): string {
  return Buffer.from(JSON.stringify({ o: c.offset, a: c.after })).toString('base64url');
}

/** The cursor, or INVALID_CURSOR when `raw` is not one this module made. */
export function decodeDeadLetterCursor(raw: string): DeadLetterCursor {
  const bad = () => new AppError('INVALID_CURSOR', 'not a cursor of this dead-letter listing');
  if (raw.length === 0 || raw.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(raw)) throw bad();
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  const { o, a } = (v ?? {}) as { o?: unknown; a?: unknown };
  if (!Number.isSafeInteger(o) || (o as number) < 1 || typeof a !== 'string' || a.length === 0) throw bad();
  return { offset: o as number, after: a };
}
