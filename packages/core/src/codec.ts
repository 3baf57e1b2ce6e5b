import { type EnvelopeAmqpProperties, type EventEnvelope, envelopeAmqpProperties } from './envelope.js';
import { AppError, type Violation } from './errors.js';
import { isUuid } from './ids.js';
import { eventTypeProblem } from './routing.js';

/**
 * The one envelope codec: the structural rules every event meets wherever it enters or
 * leaves (gateway routes, webhooks, SDK publish and consume, CLI, the store's ingest), and
 * the mapping between an envelope and a broker message. Payload schemas are Holyfields'
 * job; these are the rules without which an event cannot be routed, linked or stored.
 */

/** RFC 3339 date-time, with `T`, `t` or a space between date and time (as JSON Schema's `date-time`). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;
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
  } else if (
    typeof value.timestamp !== 'string' ||
    !RFC3339.test(value.timestamp) ||
    Number.isNaN(Date.parse(value.timestamp))
  ) {
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
  return out;
}

/** Throws INVALID_ENVELOPE with every violation when there is any. */
export function assertEnvelope(value: unknown, options: EnvelopeRuleOptions): void {
  const violations = envelopeViolations(value, options);
  if (violations.length > 0) {
    throw new AppError('INVALID_ENVELOPE', describe(violations), { violations });
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
  if (body.includes(NUL_ESCAPE)) {
    throw new AppError('INVALID_ENVELOPE', 'a string holds U+0000, which the event store cannot keep', {
      violations: [
        {
          pointer: '',
          message: 'must not contain U+0000 (\\u0000) in any string: PostgreSQL cannot store it',
          keyword: 'pattern',
        },
      ],
    });
  }
  return { routingKey: envelope.event_type, body, properties: envelopeAmqpProperties(envelope) };
}

// JSON.stringify writes U+0000 as this escape; a raw NUL byte cannot appear in valid JSON.
const NUL_ESCAPE = Buffer.from('\\u0000');

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
  if (violations.length === 0 && body.includes(NUL_ESCAPE)) {
    violations.push({
      pointer: '',
      message: 'must not contain U+0000 (\\u0000) in any string: PostgreSQL cannot store it',
      keyword: 'pattern',
    });
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
