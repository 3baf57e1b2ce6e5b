import { type EventEnvelope, isUuid, isValidEventType } from '@33god/core';

/** `text` is the body as a string, the text `envelope` was parsed from. */
export type ParsedMessage =
  | { ok: true; envelope: EventEnvelope; text: string }
  | { ok: false; reason: string };

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const MAX_TEXT = 1024;

/**
 * What the store needs to keep an event: the envelope's structure (the gateway validated
 * payloads against their schemas before publishing; the store only refuses what it cannot
 * store or query faithfully). The reason becomes the dead letter's `x-dead-letter-reason`.
 */
export function parseEnvelope(body: Buffer): ParsedMessage {
  const text = body.toString('utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'message body is not JSON' };
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    return { ok: false, reason: 'message body is not a JSON object' };
  }
  const e = doc as Record<string, unknown>;
  if (!isUuid(e.event_id)) return { ok: false, reason: '/event_id must be a UUID' };
  if (!isValidEventType(e.event_type)) {
    return { ok: false, reason: '/event_type must be lowercase dot-separated words' };
  }
  if (
    typeof e.timestamp !== 'string' ||
    !RFC3339.test(e.timestamp) ||
    Number.isNaN(Date.parse(e.timestamp))
  ) {
    return { ok: false, reason: '/timestamp must be an RFC 3339 date-time' };
  }
  if (typeof e.version !== 'string' || e.version.length === 0 || e.version.length > 64) {
    return { ok: false, reason: '/version must be a non-empty string' };
  }
  const src = e.source;
  if (src === null || typeof src !== 'object' || Array.isArray(src)) {
    return { ok: false, reason: '/source must be an object' };
  }
  const app = (src as Record<string, unknown>).app;
  if (typeof app !== 'string' || app.length === 0 || app.length > 256) {
    return { ok: false, reason: '/source/app must be a non-empty string' };
  }
  for (const key of ['correlation_id', 'causation_id'] as const) {
    const v = e[key];
    if (v !== undefined && v !== null && !isUuid(v))
      return { ok: false, reason: `/${key} must be a UUID or null` };
  }
  const payload = e.payload;
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    return { ok: false, reason: '/payload must be an object' };
  }
  if (e.event_type.length > MAX_TEXT) return { ok: false, reason: '/event_type is too long' };
  // PostgreSQL's jsonb cannot hold U+0000 in a string
  if (body.includes('\\u0000'))
    return { ok: false, reason: 'the message contains \\u0000, which PostgreSQL cannot store' };
  // the parsed document is ours: normalise it in place rather than copy it
  e.event_id = e.event_id.toLowerCase();
  e.correlation_id = typeof e.correlation_id === 'string' ? e.correlation_id.toLowerCase() : null;
  e.causation_id = typeof e.causation_id === 'string' ? e.causation_id.toLowerCase() : null;
  return { ok: true, envelope: e as EventEnvelope, text };
}
