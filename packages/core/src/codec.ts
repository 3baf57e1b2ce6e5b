import { type EnvelopeAmqpProperties, type EventEnvelope, envelopeAmqpProperties } from './envelope.js';
import { AppError, type Violation } from './errors.js';
import { isUuid } from './ids.js';
import { eventTypeProblem } from './routing.js';
import { parseTraceparent, tracestateProblem } from './trace.js';

/**
 * The one envelope codec: the structural rules every event meets wherever it enters or
 * leaves (gateway routes, webhooks, SDK publish and consume, CLI, the store's ingest), and
 * the mapping between an envelope and a broker message. Payload schemas are Holyfields'
 * job; these are the rules without which an event cannot be routed, linked or stored.
 */

/** RFC 3339 date-time, with `T`, `t` or a space between date and time (as JSON Schema's `date-time`). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * An RFC 3339 date-time that names a real instant PostgreSQL can store: a day that exists in
 * its month (no 30 February; Date.parse rolls it over to March), hours, minutes and seconds in
 * range, an offset within ±15:59, and a year from 0001 (PostgreSQL has no year 0). Anything else would be
 * accepted with a 202 and then dead-lettered by the store.
 */
function isStorableDateTime(text: string): boolean {
  if (!RFC3339.test(text)) return false;
  const year = Number(text.slice(0, 4));
  const month = Number(text.slice(5, 7));
  const day = Number(text.slice(8, 10));
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > (month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!)) return false;
  if (Number(text.slice(11, 13)) > 23 || Number(text.slice(14, 16)) > 59 || Number(text.slice(17, 19)) > 59) {
    return false;
  }
  const zone = /[+-](\d{2}):(\d{2})$/.exec(text);
  // PostgreSQL takes offsets up to ±15:59 (RFC 3339 allows ±23:59).
  if (zone && (Number(zone[1]) > 15 || Number(zone[2]) > 59)) return false;
  return !Number.isNaN(Date.parse(text));
}

export const MAX_VERSION_LENGTH = 64;
export const MAX_SOURCE_MEMBER_LENGTH = 256;

export interface EnvelopeRuleOptions {
  /**
   * `input`: what a producer sends, before completion (only `event_type` and `payload` are
   * required). `complete`: an envelope on the wire (every standard member present).
   */
  mode: 'input' | 'complete';
  /** Pointer prefix, e.g. `/3` for the fourth event of a batch. */
  prefix?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every structural problem of a would-be envelope, each with its JSON pointer. Empty when none. */
export function envelopeViolations(value: unknown, options: EnvelopeRuleOptions): Violation[] {
  const prefix = options.prefix ?? '';
  if (!isObject(value)) return [{ pointer: prefix, message: 'must be a JSON object (an event envelope)' }];
  const complete = options.mode === 'complete';
  const out: Violation[] = [];
  const add = (name: string, message: string, keyword: string) =>
    out.push({ pointer: `${prefix}/${name}`, message, keyword });
  const missing = (name: string) => add(name, 'is required', 'required');

  if (value.event_type === undefined) missing('event_type');
  else {
    const problem = eventTypeProblem(value.event_type);
    if (problem) add('event_type', problem, 'pattern');
  }
  if (value.payload === undefined) missing('payload');
  else if (!isObject(value.payload)) add('payload', 'must be an object', 'type');

  if (value.event_id === undefined) {
    if (complete) missing('event_id');
  } else if (!isUuid(value.event_id)) add('event_id', 'must be a UUID', 'format');

  if (value.timestamp === undefined) {
    if (complete) missing('timestamp');
  } else if (typeof value.timestamp !== 'string' || !isStorableDateTime(value.timestamp)) {
    add('timestamp', 'must be an RFC 3339 date-time', 'format');
  }

  if (value.version === undefined) {
    if (complete) missing('version');
  } else if (
    typeof value.version !== 'string' ||
    value.version.length === 0 ||
    value.version.length > MAX_VERSION_LENGTH
  ) {
    add('version', `must be a non-empty string of at most ${MAX_VERSION_LENGTH} characters`, 'type');
  }

  if (value.source === undefined) {
    if (complete) missing('source');
  } else if (!isObject(value.source)) add('source', 'must be an object', 'type');
  else {
    for (const [k, member] of Object.entries(value.source)) {
      if (typeof member !== 'string') add(`source/${k}`, 'must be a string', 'type');
      else if (member.length > MAX_SOURCE_MEMBER_LENGTH) {
        add(`source/${k}`, `must be at most ${MAX_SOURCE_MEMBER_LENGTH} characters`, 'maxLength');
      }
    }
    const app = value.source.app;
    if (app === undefined ? complete : app === '')
      add('source/app', 'is required (a non-empty string)', 'required');
  }

  for (const link of ['correlation_id', 'causation_id'] as const) {
    const id = value[link];
    if (id === undefined) {
      if (complete && link === 'correlation_id') missing(link);
    } else if (id !== null && !isUuid(id)) add(link, 'must be a UUID or null', 'format');
  }

  if (value.traceparent !== undefined && parseTraceparent(value.traceparent) === null) {
    add('traceparent', TRACEPARENT_MESSAGE, TRACE_CONTEXT_KEYWORD);
  }
  if (value.tracestate !== undefined) {
    const problem = tracestateProblem(value.tracestate);
    if (problem !== null) add('tracestate', problem, TRACE_CONTEXT_KEYWORD);
    else if (value.traceparent === undefined) {
      add('tracestate', 'is carried only with a traceparent', TRACE_CONTEXT_KEYWORD);
    }
  }
  return out;
}

/** The keyword of the violations about `traceparent` and `tracestate`. */
export const TRACE_CONTEXT_KEYWORD = 'trace-context';

const TRACEPARENT_MESSAGE =
  'must be a W3C traceparent: 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>, lowercase, ids not all zero';

/**
 * The code of an envelope refused for `violations`: INVALID_TRACE_CONTEXT (400) when its
 * trace context is all that is wrong, INVALID_ENVELOPE (422) otherwise.
 */
export function envelopeErrorCode(
  violations: readonly Violation[],
): 'INVALID_TRACE_CONTEXT' | 'INVALID_ENVELOPE' {
  return violations.length > 0 && violations.every((v) => v.keyword === TRACE_CONTEXT_KEYWORD)
    ? 'INVALID_TRACE_CONTEXT'
    : 'INVALID_ENVELOPE';
}

/**
 * Throws INVALID_ENVELOPE with every violation when there is any (INVALID_TRACE_CONTEXT when
 * a malformed `traceparent`/`tracestate` is all that is wrong, as the gateway answers).
 */
export function assertEnvelope(value: unknown, options: EnvelopeRuleOptions): void {
  const violations = envelopeViolations(value, options);
  if (violations.length > 0) {
    throw new AppError(envelopeErrorCode(violations), describe(violations), { violations });
  }
}

function describe(violations: readonly Violation[]): string {
  return violations.map((v) => `${v.pointer || '/'} ${v.message}`).join('; ');
}

/** The broker message of an envelope: routing key, JSON body and properties. */
export interface EnvelopeMessage {
  routingKey: string;
  body: Buffer;
  properties: EnvelopeAmqpProperties;
}

/**
 * Encodes an envelope for the broker: every message any part publishes passes here, so none
 * leaves that the store's ingest would refuse. Refuses a string holding U+0000 too: PostgreSQL's
 * jsonb cannot store it, so the store would dead-letter an event its publisher saw confirmed.
 */
export function encodeEnvelope(envelope: EventEnvelope<unknown>): EnvelopeMessage {
  assertEnvelope(envelope, { mode: 'complete' });
  const body = Buffer.from(JSON.stringify(envelope));
  const unstorable = unstorableText(body, envelope);
  if (unstorable) {
    throw new AppError(
      'INVALID_ENVELOPE',
      `a string holds ${unstorable.what}, which the event store cannot keep`,
      {
        violations: [unstorable.violation],
      },
    );
  }
  return { routingKey: envelope.event_type, body, properties: envelopeAmqpProperties(envelope) };
}

// JSON.stringify writes U+0000 as this escape; a raw NUL byte cannot appear in valid JSON.
const NUL_ESCAPE = Buffer.from('\\u0000');
// A lone UTF-16 surrogate can only appear in JSON as an escape (JSON.stringify writes one so;
// other encoders may escape a valid pair too, which the walk below tells apart).
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;
const SURROGATE_LOWER = Buffer.from('\\ud');
const SURROGATE_UPPER = Buffer.from('\\uD');

const NUL_VIOLATION: Violation = {
  pointer: '',
  message: 'must not contain U+0000 (\\u0000) in any string: PostgreSQL cannot store it',
  keyword: 'pattern',
};

/**
 * What in a JSON document PostgreSQL's jsonb refuses, so the store would dead-letter an event
 * its publisher saw confirmed: U+0000, and a lone UTF-16 surrogate (a string that is not
 * valid Unicode). Both checks start from a scan of the bytes; only a document holding a
 * surrogate escape is walked.
 */
function unstorableText(body: Buffer, doc: unknown): { what: string; violation: Violation } | null {
  if (body.includes(NUL_ESCAPE)) return { what: 'U+0000', violation: NUL_VIOLATION };
  // Two native byte searches on the common path; the string and the regex only after a hit.
  if (!body.includes(SURROGATE_LOWER) && !body.includes(SURROGATE_UPPER)) return null;
  if (!SURROGATE_ESCAPE.test(body.toString('latin1'))) return null;
  const pointer = loneSurrogateAt(doc, '');
  if (pointer === null) return null;
  return {
    what: 'a lone UTF-16 surrogate',
    violation: {
      pointer,
      message:
        'must be valid Unicode: a lone UTF-16 surrogate (\\ud800-\\udfff without its pair) cannot be stored by PostgreSQL',
      keyword: 'pattern',
    },
  };
}

// With the u flag a surrogate pair is one code point: only a lone surrogate matches.
const LONE_SURROGATE = /\p{Cs}/u;

/** The JSON pointer of the first string (key or value) that is not well-formed Unicode. */
function loneSurrogateAt(value: unknown, pointer: string): string | null {
  if (typeof value === 'string') return LONE_SURROGATE.test(value) ? pointer : null;
  if (value === null || typeof value !== 'object') return null;
  for (const [k, v] of Object.entries(value)) {
    const here = `${pointer}/${k.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    if (LONE_SURROGATE.test(k)) return here;
    const found = loneSurrogateAt(v, here);
    if (found !== null) return found;
  }
  return null;
}

export type DecodedMessage =
  | { ok: true; envelope: EventEnvelope; text: string }
  | { ok: false; code: 'MESSAGE_NOT_JSON' | 'INVALID_ENVELOPE'; reason: string; violations: Violation[] };

/**
 * Decodes a broker message body into a complete envelope (ids lowercased in place: the parsed
 * document is ours), or says why it is not one. `text` is the body the envelope came from.
 */
export function decodeEnvelope(body: Buffer): DecodedMessage {
  const text = body.toString('utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return {
      ok: false,
      code: 'MESSAGE_NOT_JSON',
      reason: `the message body (${body.length} bytes) is not JSON`,
      violations: [],
    };
  }
  const violations = envelopeViolations(doc, { mode: 'complete' });
  if (violations.length === 0) {
    const unstorable = unstorableText(body, doc);
    if (unstorable) violations.push(unstorable.violation);
  }
  if (violations.length > 0) {
    return { ok: false, code: 'INVALID_ENVELOPE', reason: describe(violations), violations };
  }
  const e = doc as EventEnvelope;
  e.event_id = e.event_id.toLowerCase();
  e.correlation_id = typeof e.correlation_id === 'string' ? e.correlation_id.toLowerCase() : null;
  e.causation_id = typeof e.causation_id === 'string' ? e.causation_id.toLowerCase() : null;
  return { ok: true, envelope: e, text };
}

/** `decodeEnvelope`, throwing MESSAGE_NOT_JSON or INVALID_ENVELOPE (neither is retryable). */
export function decodeEnvelopeOrThrow(body: Buffer): EventEnvelope {
  const decoded = decodeEnvelope(body);
  if (decoded.ok) return decoded.envelope;
  throw new AppError(decoded.code, decoded.reason, { violations: decoded.violations });
}
