import { isValidPattern, topicMatches } from '@33god/core';
import type { EventFilter, StoredEvent } from '../storage/types.js';

/** SQL conditions and their parameters; placeholders start after `offset`. */
export interface SqlWhere {
  conditions: string[];
  params: unknown[];
}

/**
 * A POSIX regular expression matching exactly the routing keys a topic pattern matches
 * (`*` one word, `#` zero or more words). Only called with patterns that passed
 * `isValidPattern`, whose words are `[a-z0-9_-]`, so no word needs escaping beyond `-`.
 */
export function patternToRegex(pattern: string): string {
  const tokens: string[] = [];
  for (const t of pattern.split('.')) {
    if (t === '#' && tokens.at(-1) === '#') continue; // `#.#` means `#`
    tokens.push(t);
  }
  if (tokens.length === 1 && tokens[0] === '#') return '^.*$';
  let re = '';
  let needDot = false;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === '#') {
      // leading: any number of "word." before the next word; otherwise: any number of ".word"
      if (i === 0) re += '([^.]+\\.)*';
      else re += '(\\.[^.]+)*';
      needDot = i !== 0;
      continue;
    }
    const word = t === '*' ? '[^.]+' : t.replaceAll('-', '\\-');
    re += needDot ? `\\.${word}` : word;
    needDot = true;
  }
  return `^${re}$`;
}

export function isPattern(type: string): boolean {
  return type.includes('*') || type.includes('#');
}

/** The SQL for a filter, with numbered parameters starting at `$<first>`. */
export function filterToSql(filter: EventFilter, first = 1): SqlWhere {
  const conditions: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown): string => {
    params.push(v);
    return `$${first + params.length - 1}`;
  };
  if (filter.type !== undefined) {
    if (!isPattern(filter.type)) conditions.push(`event_type = ${p(filter.type)}`);
    else if (filter.type !== '#' && isValidPattern(filter.type))
      conditions.push(`event_type ~ ${p(patternToRegex(filter.type))}`);
  }
  if (filter.source !== undefined) conditions.push(`source_app = ${p(filter.source)}`);
  if (filter.correlationId !== undefined)
    conditions.push(`correlation_id = ${p(filter.correlationId)}::uuid`);
  if (filter.causationId !== undefined) conditions.push(`causation_id = ${p(filter.causationId)}::uuid`);
  if (filter.traceId !== undefined) conditions.push(`trace_id = ${p(filter.traceId)}`);
  if (filter.since !== undefined)
    conditions.push(`"timestamp" >= ${p(filter.since.toISOString())}::timestamptz`);
  if (filter.until !== undefined)
    conditions.push(`"timestamp" < ${p(filter.until.toISOString())}::timestamptz`);
  for (const pf of filter.payload ?? []) {
    const alts = pf.values.map((v) => `payload @> ${p(JSON.stringify(nest(pf.path, v)))}::jsonb`);
    conditions.push(alts.length === 1 ? alts[0]! : `(${alts.join(' OR ')})`);
  }
  if (filter.payloadText !== undefined) {
    conditions.push(`payload::text ILIKE ${p(`%${escapeLike(filter.payloadText)}%`)}`);
  }
  if (filter.maxPosition !== undefined) conditions.push(`position <= ${p(filter.maxPosition)}::bigint`);
  return { conditions, params };
}

function nest(path: readonly string[], value: unknown): unknown {
  let out = value;
  for (let i = path.length - 1; i >= 0; i--) out = { [path[i]!]: out };
  return out;
}

function escapeLike(s: string): string {
  return s.replaceAll('\\', '\\\\').replaceAll('%', '\\%').replaceAll('_', '\\_');
}

/** The same filter evaluated in memory (live stream), matching what the SQL selects. */
export function matchesFilter(filter: EventFilter, e: StoredEvent): boolean {
  if (filter.type !== undefined && !topicMatches(filter.type, e.event_type)) return false;
  if (filter.source !== undefined && e.source.app !== filter.source) return false;
  if (filter.correlationId !== undefined && e.correlation_id !== filter.correlationId) return false;
  if (filter.causationId !== undefined && e.causation_id !== filter.causationId) return false;
  if (filter.traceId !== undefined && e.trace_id !== filter.traceId) return false;
  if (filter.since !== undefined || filter.until !== undefined) {
    const t = Date.parse(e.timestamp);
    if (filter.since !== undefined && t < filter.since.getTime()) return false;
    if (filter.until !== undefined && t >= filter.until.getTime()) return false;
  }
  for (const pf of filter.payload ?? []) {
    let v: unknown = e.payload;
    for (const k of pf.path)
      v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
    if (!pf.values.some((want) => jsonContains(v, want))) return false;
  }
  if (filter.payloadText !== undefined) {
    if (!JSON.stringify(e.payload).toLowerCase().includes(filter.payloadText.toLowerCase())) return false;
  }
  return true;
}

/** JSONB `@>` semantics for the scalar and object values a filter holds. */
function jsonContains(have: unknown, want: unknown): boolean {
  if (Array.isArray(have)) {
    return Array.isArray(want) && want.every((w) => have.some((h) => jsonContains(h, w)));
  }
  if (want !== null && typeof want === 'object') {
    if (have === null || typeof have !== 'object') return false;
    return Object.entries(want).every(([k, w]) => jsonContains((have as Record<string, unknown>)[k], w));
  }
  return have === want;
}
