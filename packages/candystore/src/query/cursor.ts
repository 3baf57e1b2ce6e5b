import { AppError } from '@33god/core';

export type Order = 'asc' | 'desc';

/** What a page cursor says: the listing's order, which way to move, and the exclusive bound. */
export interface Cursor {
  order: Order;
  /** 'next' continues in `order` after `position`; 'prev' goes back before it. */
  dir: 'next' | 'prev';
  position: string;
}

const POSITION = /^(0|[1-9]\d{0,18})$/;

export function encodeCursor(c: Cursor): string {
  return Buffer.from(
    JSON.stringify({ v: 1, o: c.order, d: c.dir === 'next' ? 'n' : 'p', p: c.position }),
  ).toString('base64url');
}

/** Decodes an opaque cursor; anything not made by `encodeCursor` is INVALID_CURSOR. */
export function decodeCursor(raw: string): Cursor {
  const bad = () =>
    new AppError('INVALID_CURSOR', 'the cursor is not one this API returned; start again without it', {
      violations: [{ pointer: '/cursor', message: 'not a valid cursor' }],
    });
  if (raw.length === 0 || raw.length > 200 || !/^[A-Za-z0-9_-]+$/.test(raw)) throw bad();
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (doc === null || typeof doc !== 'object') throw bad();
  const { v, o, d, p } = doc as Record<string, unknown>;
  if (
    v !== 1 ||
    (o !== 'asc' && o !== 'desc') ||
    (d !== 'n' && d !== 'p') ||
    typeof p !== 'string' ||
    !POSITION.test(p)
  )
    throw bad();
  if (BigInt(p) > 9223372036854775807n) throw bad();
  return { order: o, dir: d === 'n' ? 'next' : 'prev', position: p };
}

/** The bound one step further, so that an exclusive bound includes `position`. */
export function widen(position: string, order: Order, dir: 'next' | 'prev'): string {
  const p = BigInt(position);
  // moving "next" in desc order means smaller positions: include p by starting at p+1
  const up = (order === 'desc') === (dir === 'next');
  const out = up ? p + 1n : p - 1n;
  return (out < 0n ? 0n : out).toString();
}
