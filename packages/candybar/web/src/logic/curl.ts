import type { StoredEvent } from './types.js';

/** Wraps a string for a POSIX shell: single quotes, with embedded ones closed and escaped. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * The envelope to send again: the store's bookkeeping (position, routing key, receive
 * time, replay id, headers) removed, and by default a fresh identity (no event_id, no
 * timestamp) so the gateway accepts it as a new event in the same correlation, caused by
 * the original.
 */
export function republishEnvelope(e: StoredEvent, keepIdentity = false): Record<string, unknown> {
  const env: Record<string, unknown> = {
    event_type: e.event_type,
    version: e.version,
    source: e.source,
    correlation_id: e.correlation_id,
    causation_id: keepIdentity ? e.causation_id : e.event_id,
    payload: e.payload,
  };
  if (keepIdentity) {
    env.event_id = e.event_id;
    env.timestamp = e.timestamp;
  }
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  return env;
}

export function toCurl(e: StoredEvent, eventsUrl: string, keepIdentity = false): string {
  const body = JSON.stringify(republishEnvelope(e, keepIdentity));
  return `curl -sS -X POST ${shellQuote(eventsUrl)} -H 'content-type: application/json' --data-binary ${shellQuote(body)}`;
}
