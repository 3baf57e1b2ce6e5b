import { decodeEnvelope, type EventEnvelope } from '@33god/core';

/** `text` is the body as a string, the text `envelope` was parsed from. */
export type ParsedMessage =
  | { ok: true; envelope: EventEnvelope; text: string }
  | { ok: false; reason: string };

/**
 * What the store needs to keep an event: the envelope's structure, by the same rules as every
 * other entry point (core's codec; the gateway validated payloads against their schemas before
 * publishing). The reason becomes the dead letter's `x-dead-letter-reason`.
 */
export function parseEnvelope(body: Buffer): ParsedMessage {
  const decoded = decodeEnvelope(body);
  return decoded.ok ? decoded : { ok: false, reason: decoded.reason };
}
