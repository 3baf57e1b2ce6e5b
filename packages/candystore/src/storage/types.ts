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
  /** The W3C trace id of the event's `traceparent`; null when it came without one. */
  trace_id: string | null;
  /** The envelope's W3C trace context members, when present. */
  traceparent?: string;
  tracestate?: string;
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
  /** W3C trace id: 32 lowercase hex digits. */
  traceId?: string;
  /** Event time window on `timestamp`: since inclusive, until exclusive. */
  since?: Date;
  until?: Date;
  payload?: PayloadFilter[];
  /** Case-insensitive substring of the payload's JSON text. */
  payloadText?: string;
  /** Only events at or below this position (a replay's fixed end). */
  maxPosition?: string;
}

export type ReplayTarget = { exchange: string } | { queue: string };
export type ReplayStatus = 'running' | 'completed' | 'cancelled' | 'failed';

/** A replay as started: what to select, where to send it, and the fixed set it covers. */
export interface NewReplay {
  id: string;
  filter: EventFilter;
  target: ReplayTarget;
  ratePerSecond: number | null;
  /** The store head when it started: the matching events at or below it are replayed. */
  headPosition: string;
  total: number;
}

/** A replay's row: the request, its progress and its outcome. */
export interface StoredReplay extends NewReplay {
  /** Events confirmed in position order (a resume counts on from here). */
  published: number;
  /** The position of the last of them ("0": none yet); a resume starts after it. */
  lastPosition: string;
  status: ReplayStatus;
  startedAt: Date;
  finishedAt: Date | null;
  error: string | null;
}

/** What a replay has delivered so far: every selected event up to `lastPosition`. */
export interface ReplayProgress {
  published: number;
  lastPosition: string;
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
