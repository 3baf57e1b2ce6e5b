/**
 * Shapes the dashboard reads from Candystore, the Bloodbank gateway and its own
 * server. They mirror those APIs' JSON; nothing here depends on the DOM so the
 * logic modules can be tested under Node.
 */

export interface EventSourceInfo {
  app: string;
  host?: string;
  trigger_type?: string;
  [key: string]: unknown;
}

export interface StoredEvent {
  position: string;
  event_id: string;
  event_type: string;
  timestamp: string;
  version?: string;
  source: EventSourceInfo;
  correlation_id: string | null;
  causation_id: string | null;
  payload: unknown;
  routing_key?: string;
  headers?: Record<string, unknown>;
  received_at?: string;
  replay_id?: string | null;
  /** W3C trace id of the event's traceparent (Candystore's `trace_id`). */
  trace_id?: string | null;
  traceparent?: string;
  tracestate?: string;
}

export interface EventPage {
  items: StoredEvent[];
  next_cursor: string | null;
  prev_cursor: string | null;
}

export interface ChainNode {
  event: StoredEvent | null;
  event_id: string;
  children: ChainNode[];
  missing: boolean;
  delta_ms: number | null;
}

export interface ChainGap {
  missing_event_id: string;
  referenced_by: string[];
}

export interface CorrelationChain {
  correlation_id: string;
  count: number;
  roots: ChainNode[];
  timeline: StoredEvent[];
  gaps: ChainGap[];
}

export interface StatsBucket {
  bucket: string;
  key: string;
  count: number;
}

export interface StoreStats {
  since: string;
  until: string;
  bucket_seconds: number;
  total: number;
  by_type: StatsBucket[];
  by_source: StatsBucket[];
}

export type StreamMessage =
  | { kind: 'event'; event: StoredEvent }
  | { kind: 'caught_up'; position: string }
  | { kind: 'heartbeat'; position: string };

export interface DeadLetterQueue {
  /** The service queue (`orders`); its dead letters are in `dlq` (`orders.dlq`). */
  queue: string;
  dlq?: string;
  /** False when the dead-letter queue was never declared. */
  exists?: boolean;
  count: number;
}

export interface DeadLetter {
  id: string;
  event_id: string;
  event_type: string;
  queue: string;
  dlq?: string;
  reason: string;
  error_class?: string;
  handler?: string;
  attempts: number;
  original_routing_key?: string;
  first_failure_at?: string;
  last_failure_at?: string;
  envelope: unknown;
}

export interface SchemaSummary {
  event_type: string;
  version?: string | number;
  title?: string;
  description?: string;
  /** `payload` when the schema describes the payload only; otherwise the whole envelope. */
  kind?: string;
  file?: string;
}

export interface SchemaDetail extends SchemaSummary {
  schema: unknown;
  examples?: unknown[];
}

export interface ServiceHealth {
  id: string;
  url: string | null;
  status: 'up' | 'down' | 'unknown';
  http_status: number | null;
  latency_ms: number | null;
  detail?: string;
}
