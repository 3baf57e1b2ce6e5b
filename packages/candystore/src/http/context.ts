import type { StoreMetrics } from '../metrics.js';
import type { Replayer } from '../replay/replayer.js';
import type { EventStore } from '../storage/event-store.js';
import type { StoreTail } from '../stream/tail.js';

export interface HealthReport {
  status: 'ok' | 'degraded';
  database: { ok: boolean; kind: string; error?: string };
  /** `node`: RabbitMQ's node connected (or being connected) to, redacted. */
  broker: { ok: boolean; state: string; node?: string; error?: string };
  ingest: {
    queue: string;
    /** Messages waiting in the ingest queue; null when the broker could not say. */
    lag: number | null;
    last_commit_at: string | null;
    /**
     * The database error a held batch is waiting out (unacked, retried with backoff), or null:
     * the last error's message and SQLSTATE (null without one), when the database started
     * refusing (RFC 3339), failed attempts so far.
     */
    database_error: { message: string; code: string | null; since: string; attempts: number } | null;
  };
}

/** What the routes need from the running service. */
export interface ApiContext {
  store: EventStore;
  tail: StoreTail;
  replayer: Replayer | null;
  metrics: StoreMetrics;
  health(): Promise<HealthReport>;
  /** Updates gauges that are measured on demand (lag) before a scrape. */
  refreshMetrics(): Promise<void>;
  /**
   * Live-stream bounds: sockets per client (principal, else address) and in all, refused with
   * a 429 before the upgrade; per socket, the live events held while it catches up (count and
   * bytes) and the bytes queued on it, beyond which it is closed as a slow client.
   */
  stream: {
    maxPerClient: number;
    maxTotal: number;
    maxPending: number;
    maxPendingBytes: number;
    maxBufferedBytes: number;
    heartbeatMs: number;
  };
}
