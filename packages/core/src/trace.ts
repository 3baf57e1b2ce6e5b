import { randomFillSync } from 'node:crypto';

/**
 * W3C Trace Context (Level 1): the `traceparent` and `tracestate` envelope members, HTTP
 * headers, AMQP headers and CloudEvents extensions (the distributed-tracing extension uses
 * the same names). Parsing is a character scan, never a regular expression over the whole
 * value, so a hostile header costs at most its length.
 */

/** A parsed `traceparent`: 32 and 16 lowercase hex digits, and the flags byte. */
export interface TraceContext {
  readonly traceId: string;
  readonly spanId: string;
  /** Bit 0 is `sampled`; other bits are kept as received. */
  readonly flags: number;
}

export const TRACEPARENT = 'traceparent';
export const TRACESTATE = 'tracestate';
export const TRACESTATE_MAX_MEMBERS = 32;
export const TRACESTATE_MAX_LENGTH = 512;
/** Version 00 is exactly this long; later versions are at least this long. */
const TRACEPARENT_LENGTH = 55;

// 0-9 → 0..9, a-f → 10..15, everything else (upper case included) → -1.
const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) HEX[97 + i] = 10 + i;

/** Lowercase hex from `from` to `to`; whether any digit is non-zero goes in the result's sign. */
function scanHex(s: string, from: number, to: number): -1 | 0 | 1 {
  let nonZero = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    const d = c < 128 ? HEX[c]! : -1;
    if (d < 0) return -1;
    nonZero |= d;
  }
  return nonZero === 0 ? 0 : 1;
}

/**
 * Parses a `traceparent`, or returns null when it is not one. Version 00 must be exactly 55
 * characters; a later version (not `ff`) is read as far as version 00 defines it, and what
 * follows must start with `-` (the spec's forward-compatibility rule). All-zero trace and
 * span ids are invalid.
 */
export function parseTraceparent(value: unknown): TraceContext | null {
  if (typeof value !== 'string' || value.length < TRACEPARENT_LENGTH) return null;
  const v = scanHex(value, 0, 2);
  if (v < 0) return null;
  const version = value.slice(0, 2);
  if (version === 'ff') return null;
  if (
    version === '00'
      ? value.length !== TRACEPARENT_LENGTH
      : value.length > TRACEPARENT_LENGTH && value.charCodeAt(TRACEPARENT_LENGTH) !== 45
  )
    return null;
  if (value.charCodeAt(2) !== 45 || value.charCodeAt(35) !== 45 || value.charCodeAt(52) !== 45) return null;
  if (scanHex(value, 3, 35) !== 1 || scanHex(value, 36, 52) !== 1 || scanHex(value, 53, 55) < 0) return null;
  return {
    traceId: value.slice(3, 35),
    spanId: value.slice(36, 52),
    flags: Number.parseInt(value.slice(53, 55), 16),
  };
}

/** Whether `value` is a version-00 `traceparent` exactly as this module would format it. */
export function isCanonicalTraceparent(value: string): boolean {
  return value.length === TRACEPARENT_LENGTH && value.charCodeAt(0) === 48 && value.charCodeAt(1) === 48;
}

/** Always version 00: a later version's extra fields are not ours to pass on (spec §3.2.4). */
export function formatTraceparent(ctx: TraceContext): string {
  const f = ctx.flags & 0xff;
  return `00-${ctx.traceId}-${ctx.spanId}-${f < 16 ? '0' : ''}${f.toString(16)}`;
}

/** The trace id of a `traceparent` that already passed `parseTraceparent`. */
export function traceIdOf(traceparent: string): string {
  return traceparent.slice(3, 35);
}

// Random ids come from a pooled buffer: one system call per 512 ids, not one per id.
const POOL = Buffer.allocUnsafe(4096);
let poolAt = POOL.length;

function randomHex(bytes: number): string {
  for (;;) {
    if (poolAt + bytes > POOL.length) {
      randomFillSync(POOL);
      poolAt = 0;
    }
    const from = poolAt;
    poolAt += bytes;
    // An all-zero id is invalid; 2^-64 odds, but the loop is free.
    for (let i = from; i < poolAt; i++) if (POOL[i] !== 0) return POOL.toString('hex', from, poolAt);
  }
}

/** A new 16-hex-digit span id. */
export const newSpanId = (): string => randomHex(8);

/** A new 32-hex-digit trace id. */
export const newTraceId = (): string => randomHex(16);

/** The root of a new trace, sampled (there is no sampler here to say otherwise). */
export function newTrace(): TraceContext {
  return { traceId: newTraceId(), spanId: newSpanId(), flags: 1 };
}

/** A span inside `parent`'s trace: same trace id and flags, a new span id. */
export function childOf(parent: TraceContext): TraceContext {
  return { traceId: parent.traceId, spanId: newSpanId(), flags: parent.flags };
}

/**
 * Why a `tracestate` is not valid, or null when it is. Rules: at most 32 list members and
 * 512 characters; each non-empty member `key=value`, key a simple (`[a-z][a-z0-9_*\/-]`,
 * at most 256) or multi-tenant (`tenant@system`, at most 241 and 14) key, value 1 to 256
 * printable ASCII characters without `,` or `=`, not ending in a space; no key twice.
 */
export function tracestateProblem(value: unknown): string | null {
  if (typeof value !== 'string') return 'must be a string';
  if (value.length > TRACESTATE_MAX_LENGTH) return `must be at most ${TRACESTATE_MAX_LENGTH} characters`;
  const keys = new Set<string>();
  let members = 0;
  for (const raw of value.split(',')) {
    const member = trimOws(raw);
    if (member.length === 0) continue;
    if (++members > TRACESTATE_MAX_MEMBERS) return `must have at most ${TRACESTATE_MAX_MEMBERS} list members`;
    const eq = member.indexOf('=');
    if (eq <= 0) return `list member '${member}' is not key=value`;
    const key = member.slice(0, eq);
    if (!validKey(key)) return `key '${key}' is not a valid tracestate key`;
    if (!validValue(member, eq + 1)) return `the value of '${key}' is not a valid tracestate value`;
    if (keys.has(key)) return `key '${key}' appears twice`;
    keys.add(key);
  }
  return null;
}

function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

const isLcAlpha = (c: number) => c >= 97 && c <= 122;
const isDigit = (c: number) => c >= 48 && c <= 57;
const isKeyChar = (c: number) => isLcAlpha(c) || isDigit(c) || c === 95 || c === 45 || c === 42 || c === 47;

function validKey(key: string): boolean {
  const at = key.indexOf('@');
  if (at < 0) {
    if (key.length > 256 || !isLcAlpha(key.charCodeAt(0))) return false;
    for (let i = 1; i < key.length; i++) if (!isKeyChar(key.charCodeAt(i))) return false;
    return true;
  }
  const tenant = key.slice(0, at);
  const system = key.slice(at + 1);
  if (tenant.length < 1 || tenant.length > 241 || system.length < 1 || system.length > 14) return false;
  const t0 = tenant.charCodeAt(0);
  if (!isLcAlpha(t0) && !isDigit(t0)) return false;
  for (let i = 1; i < tenant.length; i++) if (!isKeyChar(tenant.charCodeAt(i))) return false;
  if (!isLcAlpha(system.charCodeAt(0))) return false;
  for (let i = 1; i < system.length; i++) if (!isKeyChar(system.charCodeAt(i))) return false;
  return true;
}

function validValue(member: string, from: number): boolean {
  const length = member.length - from;
  if (length < 1 || length > 256) return false;
  for (let i = from; i < member.length; i++) {
    const c = member.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 44 || c === 61) return false;
  }
  return member.charCodeAt(member.length - 1) !== 32;
}

/**
 * A `tracestate` received in an HTTP header, made safe to carry: null when invalid (the
 * spec lets a receiver drop a tracestate it cannot parse, and an invalid one is no one's).
 */
export function acceptedTracestate(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  // Several header lines form one list (RFC 9110 field combination).
  const joined = Array.isArray(value) ? value.join(',') : value;
  if (joined.length === 0) return undefined;
  return tracestateProblem(joined) === null ? joined : undefined;
}

/** A `traceparent` from an HTTP header: the parsed context, or undefined when absent or invalid. */
export function acceptedTraceparent(value: string | string[] | undefined): TraceContext | undefined {
  // Two traceparent header lines are ambiguous: the spec says to treat that as invalid.
  if (value === undefined || Array.isArray(value)) return undefined;
  return parseTraceparent(value) ?? undefined;
}
