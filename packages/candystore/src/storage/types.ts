import type { EventEnvelope } from '@33god/core';

/** An event as the store returns it (HTTP, stream). `position` is a decimal string (bigint). */
export interface StoredEvent {
  position: string;
  event_id: string;
  event_type: string;
  timestamp: string;
  version: string;
  source: Record<string, unknown>;
  correlation_id: string | null;
  causation_id: string | null;
  payload: Record<string, unknown>;
  routing_key: string;
  headers: Record<string, unknown>;
  received_at: string;
  replay_id: string | null;
}

/** A stored event plus what a replay needs to rebuild the original body. */
export interface StoredEventWithExtensions extends StoredEvent {
  extensions: Record<string, unknown> | null;
}

/** One event to append. */
export interface NewEvent {
  envelope: EventEnvelope;
  routingKey: string;
  headers: Record<string, unknown>;
  /** The replay that published this copy (header `x-replay-id`), or null. */
  replayId: string | null;
  /**
   * The envelope's JSON text as it arrived, when the caller has it: stored as sent (numbers
   * keep every digit), and never serialised a second time. It must be the text `envelope`
   * was parsed from. Without it the store serialises `envelope`.
   */
  body?: string;
}

export interface AppendedEvent {
  position: string;
  event_id: string;
  event_type: string;
}

export interface AppendResult {
  /** Newly stored events, in position order. */
  stored: AppendedEvent[];
  /** Events of the batch that were already stored (redeliveries, replays). */
  duplicates: number;
}

/** One `payload.<path>=value` filter: the path and the JSON values that count as a match. */
export interface PayloadFilter {
  path: string[];
  values: unknown[];
}

/** A validated filter; every member narrows the result (AND). */
export interface EventFilter {
  /** Exact event type or a topic pattern with `*` and `#`. */
  type?: string;
  /** `source.app` */
  source?: string;
  correlationId?: string;
  causationId?: string;
  /** Event time window on `timestamp`: since inclusive, until exclusive. */
  since?: Date;
  until?: Date;
  payload?: PayloadFilter[];
  /** Case-insensitive substring of the payload's JSON text. */
  payloadText?: string;
  /** Only events at or below this position (a replay's fixed end). */
  maxPosition?: string;
}

export interface StatsBucket {
  bucket: string;
  key: string;
  count: number;
}

export interface PartitionInfo {
  name: string;
  /** Exclusive upper bound of its received_at range. */
  until: Date;
}

export type { EventEnvelope };
