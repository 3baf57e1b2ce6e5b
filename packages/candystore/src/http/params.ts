import {
  AppError,
  type ErrorCode,
  isUuid,
  isValidEventType,
  isValidPattern,
  patternProblem,
  type Violation,
} from '@33god/core';
import type { EventFilter, PayloadFilter } from '../storage/types.js';

/**
 * Validation of every query parameter. Identifiers (types, apps, ids, times, positions,
 * payload paths) must match their exact grammar, so a stray quote or semicolon is a 400.
 * Payload filter values are data: they are matched literally, always as bound parameters.
 */

export type Query = Record<string, unknown>;

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const APP = /^[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,255}$/;
const PATH_SEGMENT = /^[A-Za-z0-9_-]{1,64}$/;
const POSITION = /^(0|[1-9]\d{0,18})$/;
const MAX_PAYLOAD_FILTERS = 10;
const MAX_VALUE = 512;

export function invalid(code: ErrorCode, name: string, message: string): AppError {
  const v: Violation = { pointer: `/${name}`, message };
  return new AppError(code, `${name}: ${message}`, { violations: [v] });
}

export function rejectUnknown(query: Query, allowed: readonly string[], allowPayload: boolean): void {
  const unknown = Object.keys(query).filter(
    (k) => !allowed.includes(k) && !(allowPayload && k.startsWith('payload.')),
  );
  if (unknown.length > 0) {
    throw new AppError(
      'INVALID_REQUEST',
      `unknown parameter${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`,
      {
        violations: unknown.map((k) => ({ pointer: `/${k}`, message: 'unknown parameter' })),
      },
    );
  }
}

/** A single string value (a repeated parameter is an error). */
export function single(query: Query, name: string): string | undefined {
  const v = query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalid('INVALID_REQUEST', name, 'give this parameter once');
  return v;
}

/** `true` or `false`; absent gives `fallback`. */
export function parseBoolean(query: Query, name: string, fallback: boolean): boolean {
  const v = single(query, name);
  if (v === undefined) return fallback;
  if (v === 'true' || v === 'false') return v === 'true';
  throw invalid('INVALID_REQUEST', name, "expected 'true' or 'false'");
}

export function parseTime(raw: string, name: string): Date {
  const t = Date.parse(raw);
  if (!RFC3339.test(raw) || Number.isNaN(t)) {
    throw invalid('INVALID_FILTER', name, 'must be an RFC 3339 date-time, e.g. 2026-01-31T12:00:00Z');
  }
  const d = new Date(t);
  if (d.getUTCFullYear() < 1 || d.getUTCFullYear() > 9999)
    throw invalid('INVALID_FILTER', name, 'is out of range');
  return d;
}

export function parseUuid(raw: string, name: string, code: ErrorCode = 'INVALID_FILTER'): string {
  if (!isUuid(raw)) throw invalid(code, name, 'must be a UUID');
  return raw.toLowerCase();
}

export function parseType(raw: string, name = 'type'): string {
  const ok = raw.includes('*') || raw.includes('#') ? isValidPattern(raw) : isValidEventType(raw);
  if (!ok) {
    throw invalid(
      'INVALID_FILTER',
      name,
      (raw.includes('*') || raw.includes('#') ? patternProblem(raw) : null) ??
        'must be an event type (lowercase dot-separated words) or a pattern with * and #',
    );
  }
  return raw;
}

export function parseApp(raw: string, name = 'source'): string {
  if (!APP.test(raw))
    throw invalid('INVALID_FILTER', name, 'must be an app name: letters, digits and . _ : @ / + -');
  return raw;
}

export function parsePosition(raw: string, name: string): string {
  if (!POSITION.test(raw) || BigInt(raw) > 9223372036854775807n) {
    throw invalid('INVALID_REQUEST', name, "must be a position (a whole number) or 'now'");
  }
  return raw;
}

export function parseInteger(raw: string, name: string, min: number, max: number): number {
  if (!/^\d{1,12}$/.test(raw))
    throw invalid('INVALID_REQUEST', name, `must be a whole number from ${min} to ${max}`);
  const n = Number(raw);
  if (n < min || n > max)
    throw invalid('INVALID_REQUEST', name, `must be a whole number from ${min} to ${max}`);
  return n;
}

export function parsePayloadPath(key: string, name: string): string[] {
  const path = key.split('.');
  if (path.length > 8 || !path.every((s) => PATH_SEGMENT.test(s))) {
    throw invalid(
      'INVALID_FILTER',
      name,
      'payload paths are up to 8 dot-separated names of letters, digits, _ and -',
    );
  }
  return path;
}

function checkValue(raw: string, name: string): void {
  if (raw.length > MAX_VALUE)
    throw invalid('INVALID_FILTER', name, `values are at most ${MAX_VALUE} characters`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(raw))
    throw invalid('INVALID_FILTER', name, 'must not contain control characters');
}

/** The JSON values a query-string value can mean: the string itself, and a number, boolean or null when it spells one. */
function candidates(raw: string): unknown[] {
  const out: unknown[] = [raw];
  if (/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(raw) && Number.isFinite(Number(raw)))
    out.push(Number(raw));
  else if (raw === 'true' || raw === 'false') out.push(raw === 'true');
  else if (raw === 'null') out.push(null);
  return out;
}

/** `payload.<path>=value` parameters (each repeatable; all must match). */
export function parsePayloadParams(query: Query): PayloadFilter[] {
  const out: PayloadFilter[] = [];
  for (const [key, value] of Object.entries(query)) {
    if (!key.startsWith('payload.')) continue;
    const path = parsePayloadPath(key.slice('payload.'.length), key);
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) {
      if (typeof v !== 'string') throw invalid('INVALID_FILTER', key, 'must be a string');
      checkValue(v, key);
      out.push({ path, values: candidates(v) });
    }
  }
  if (out.length > MAX_PAYLOAD_FILTERS) {
    throw invalid('INVALID_FILTER', 'payload', `at most ${MAX_PAYLOAD_FILTERS} payload filters`);
  }
  return out;
}

/** A W3C trace id: 32 hex digits, not all zero (upper case accepted, stored lower case). */
export function parseTraceId(raw: string, name: string): string {
  const id = raw.toLowerCase();
  if (id.length !== 32 || !/^[0-9a-f]{32}$/.test(id) || /^0+$/.test(id)) {
    throw invalid('INVALID_FILTER', name, 'must be a W3C trace id: 32 hex digits, not all zero');
  }
  return id;
}

/** The filter parameters shared by /events and /stream. */
export function parseFilter(query: Query, options: { time: boolean; payloadText: boolean }): EventFilter {
  const f: EventFilter = {};
  const type = single(query, 'type');
  if (type !== undefined) f.type = parseType(type);
  const source = single(query, 'source');
  if (source !== undefined) f.source = parseApp(source);
  const corr = single(query, 'correlation_id');
  if (corr !== undefined) f.correlationId = parseUuid(corr, 'correlation_id', 'INVALID_CORRELATION_ID');
  const cause = single(query, 'causation_id');
  if (cause !== undefined) f.causationId = parseUuid(cause, 'causation_id');
  const trace = single(query, 'trace_id');
  if (trace !== undefined) f.traceId = parseTraceId(trace, 'trace_id');
  if (options.time) {
    const since = single(query, 'since');
    if (since !== undefined) f.since = parseTime(since, 'since');
    const until = single(query, 'until');
    if (until !== undefined) f.until = parseTime(until, 'until');
    if (f.since && f.until && f.since.getTime() >= f.until.getTime()) {
      throw invalid('INVALID_FILTER', 'until', 'must be later than since');
    }
  }
  if (options.payloadText) {
    const text = single(query, 'payload_text');
    if (text !== undefined) {
      if (text.length === 0) throw invalid('INVALID_FILTER', 'payload_text', 'must not be empty');
      checkValue(text, 'payload_text');
      f.payloadText = text;
    }
  }
  const payload = parsePayloadParams(query);
  if (payload.length > 0) f.payload = payload;
  return f;
}

/** The `filter` object of POST /replays (JSON values, same grammar as the query parameters). */
export function parseReplayFilter(body: Record<string, unknown>): EventFilter {
  const f: EventFilter = {};
  const str = (k: string): string | undefined => {
    const v = body[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw invalid('INVALID_FILTER', `filter/${k}`, 'must be a string');
    return v;
  };
  const type = str('type');
  if (type !== undefined) f.type = parseType(type, 'filter/type');
  const source = str('source');
  if (source !== undefined) f.source = parseApp(source, 'filter/source');
  const corr = str('correlation_id');
  if (corr !== undefined) f.correlationId = parseUuid(corr, 'filter/correlation_id');
  const cause = str('causation_id');
  if (cause !== undefined) f.causationId = parseUuid(cause, 'filter/causation_id');
  const trace = str('trace_id');
  if (trace !== undefined) f.traceId = parseTraceId(trace, 'filter/trace_id');
  const payload = body.payload;
  if (payload !== undefined) {
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
      throw invalid('INVALID_FILTER', 'filter/payload', 'must be an object of path: value');
    }
    const entries = Object.entries(payload as Record<string, unknown>);
    if (entries.length > MAX_PAYLOAD_FILTERS) {
      throw invalid('INVALID_FILTER', 'filter/payload', `at most ${MAX_PAYLOAD_FILTERS} payload filters`);
    }
    f.payload = entries.map(([k, v]) => {
      if (v !== null && typeof v === 'object') {
        throw invalid('INVALID_FILTER', `filter/payload/${k}`, 'must be a string, number, boolean or null');
      }
      if (typeof v === 'string') checkValue(v, `filter/payload/${k}`);
      return { path: parsePayloadPath(k, `filter/payload/${k}`), values: [v] };
    });
  }
  return f;
}
