import {
  type Delivery,
  deadLetter,
  ensureExchanges,
  ensureQueue,
  NOOP_TRACER,
  type Span,
  type Tracer,
  type Transport,
} from '@33god/bloodbank';
import {
  AMQP_HEADERS,
  completeEnvelope,
  type EventEnvelope,
  encodeEnvelope,
  parseTraceparent,
} from '@33god/core';
import type { CandystoreEventPersistedV1Payload } from '@33god/events';
import type { FastifyBaseLogger } from 'fastify';
import type { StoreMetrics } from '../metrics.js';
import { classifyAppendError, sqlState } from '../storage/database.js';
import type { EventStore } from '../storage/event-store.js';
import type { AppendedEvent, NewEvent } from '../storage/types.js';
import { parseEnvelope } from './envelope.js';

export const PERSISTED_EVENT_TYPE = 'candystore.event.persisted';

export interface IngesterOptions {
  transport: Transport;
  store: EventStore;
  exchange: string;
  queue: string;
  /** Dead-letter exchange (direct). */
  dlx: string;
  /** Most events per batch; the consumer prefetch is four times this. */
  batchSize: number;
  /** Longest a delivery waits for its batch to fill. */
  batchMaxWaitMs: number;
  /** Publish one `candystore.event.persisted` per committed batch. */
  publishSummaries: boolean;
  metrics: StoreMetrics;
  log: FastifyBaseLogger;
  /** Declare the queue but do not consume it (CANDYSTORE_INGEST_PAUSED). */
  paused?: boolean;
  /** Called after every commit (wakes the live stream). */
  onCommit?: (stored: readonly AppendedEvent[]) => void;
  /** Records a `deliver` span per event and a `handle` span per commit attempt (OpenTelemetry on). */
  tracer?: Tracer;
}

interface Pending {
  delivery: Delivery;
  event: NewEvent;
  /** Open from arrival until the delivery is acked or dead-lettered (a recording tracer only). */
  span?: Span | null;
}

const HANDLER_NAME = 'candystore.ingest';

/** Backoff while the database refuses a batch: 100 ms doubling to 5 s, each wait jittered. */
export const RETRY_FIRST_MS = 100;
export const RETRY_MAX_MS = 5_000;

/** The database error a held batch is waiting out. */
export interface HeldBatch {
  /** The last error's message. */
  error: string;
  /** Its SQLSTATE; null for errors without one (PGlite's own, a lost connection). */
  code: string | null;
  /** When the first failure of this outage happened. */
  since: Date;
  /** Failed attempts so far. */
  attempts: number;
}

export function nextRetryDelay(ms: number): number {
  return Math.min(ms * 2, RETRY_MAX_MS);
}

/** A wait of about `ms`: between half and all of it, so instances do not retry in step. */
export function jittered(ms: number, random: () => number = Math.random): number {
  return Math.round(ms / 2 + (random() * ms) / 2);
}

/**
 * Queue → batch → one transaction → ack. A delivery is acked only after the batch holding
 * it committed. A failed append is classified (`classifyAppendError`): when the rows are at
 * fault the batch is split until the event is alone and dead-lettered; for anything else
 * (an outage, a full disk, a read-only server, an error with no SQLSTATE) the batch is
 * retried with backoff and its deliveries stay unacked (never acked, never dead-lettered,
 * never nacked; with the prefetch full the broker sends no more), so an outage costs time,
 * never events (at most four batches are ever unacked). Redeliveries are absorbed by the
 * event_id guard in the store.
 */
export class Ingester {
  readonly #o: IngesterOptions;
  #buffer: Pending[] = [];
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> = Promise.resolve();
  #committing = false;
  #consumer: { cancel(): Promise<void> } | null = null;
  #summaries: Promise<void> = Promise.resolve();
  lastCommitAt: Date | null = null;
  /** Set while a batch is held by a database error, cleared by the next commit. */
  held: HeldBatch | null = null;
  #stopping = false;
  #wake: (() => void) | null = null;

  readonly #tracer: Tracer;

  constructor(options: IngesterOptions) {
    this.#o = options;
    this.#tracer = options.tracer ?? NOOP_TRACER;
  }

  /** Declares the exchange, the queue bound to `#`, its dead-letter queue, then consumes. */
  async start(): Promise<void> {
    const { transport, exchange, queue, dlx, batchSize } = this.#o;
    this.#stopping = false;
    // Declared the way Bloodbank's topology plans them, and only where missing, so a queue
    // that `bloodbank topology apply` made from the registry keeps its arguments and type.
    // No message TTL (as in the registry): a backlog kept while the database is down must
    // not expire into the dead letters.
    await ensureExchanges(transport, { exchange, dlx });
    await ensureQueue(transport, queue, ['#'], { exchange, dlx }, { retry: false, messageTtlMs: null });
    if (this.#o.paused) return;
    // Four batches: the broker keeps delivering while one commits and the acks of the last
    // are on their way. With two, the buffer ran dry after one commit in six and the next
    // waited for the broker (mean gap between commits 6 ms against 1.8 ms with four).
    this.#consumer = await transport.consume(queue, (d) => this.#onDelivery(d), { prefetch: batchSize * 4 });
  }

  /** Stops consuming, commits and acks what is buffered, waits for summaries. */
  async stop(): Promise<void> {
    await this.#consumer?.cancel().catch(() => {});
    this.#consumer = null;
    // A batch held by an outage is handed back to the queue instead of blocking the stop.
    this.#stopping = true;
    this.#wake?.();
    await this.#drain();
    await this.#summaries;
  }

  async #onDelivery(d: Delivery): Promise<void> {
    const parsed = parseEnvelope(d.body);
    if (!parsed.ok) {
      await this.#deadLetter(d, new InvalidEnvelopeError(parsed.reason));
      return;
    }
    const replayId = d.properties.headers?.[AMQP_HEADERS.replayId];
    const pending: Pending = {
      delivery: d,
      event: {
        envelope: parsed.envelope,
        body: parsed.text,
        routingKey: d.routingKey,
        headers: jsonHeaders(d.properties.headers),
        replayId: replayId === undefined || replayId === null ? null : String(replayId),
      },
    };
    if (this.#tracer.recording) {
      const env = parsed.envelope;
      pending.span = this.#tracer.startSpan('deliver', parseTraceparent(env.traceparent), {
        event_id: env.event_id,
        event_type: env.event_type,
        destination: this.#o.queue,
      });
    }
    this.#buffer.push(pending);
    if (this.#buffer.length >= this.#o.batchSize) void this.#flush();
    else this.#timer ??= setTimeout(() => void this.#flush(), this.#o.batchMaxWaitMs);
  }

  async #deadLetter(d: Delivery, error: Error): Promise<void> {
    try {
      await deadLetter(
        this.#o.transport,
        d,
        { error, handler: HANDLER_NAME, attempts: 1 },
        { dlx: this.#o.dlx },
      );
      this.#o.metrics.deadLettered.inc();
      this.#o.log.warn({ reason: error.message, routingKey: d.routingKey }, 'dead-lettered a message');
    } catch (err) {
      // the dead letter was not confirmed: give the message back rather than lose it
      this.#o.log.error({ err }, 'could not dead-letter a message; requeued');
      d.nack({ requeue: true });
    }
  }

  /**
   * Commits buffered deliveries, one batch at a time. While a commit runs, deliveries keep
   * accumulating and go into the next batch as soon as it finishes (group commit): batches
   * grow with load instead of queueing many small ones behind each other.
   */
  #flush(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    // A running commit flushes what accumulated when it finishes.
    if (this.#committing) return this.#flushing;
    if (this.#buffer.length === 0) return this.#flushing;
    const batch = this.#buffer.splice(0, this.#o.batchSize);
    this.#committing = true;
    this.#flushing = this.#commit(batch).finally(() => {
      this.#committing = false;
      // What arrived during the commit has already waited for it: commit it at once.
      // Under load that is a full batch; when quiet, a few events with no added delay.
      if (this.#buffer.length > 0) void this.#flush();
    });
    return this.#flushing;
  }

  /** Resolves when everything buffered so far is committed. */
  async #drain(): Promise<void> {
    while (this.#committing || this.#buffer.length > 0) {
      if (!this.#committing) void this.#flush();
      await this.#flushing;
    }
  }

  /** `handle` spans of one commit attempt, children of each event's `deliver` span. */
  #handleSpans(batch: readonly Pending[]): (Span | null)[] | null {
    if (!this.#tracer.recording) return null;
    return batch.map((p) =>
      p.span
        ? this.#tracer.startSpan('handle', p.span.context, {
            event_id: p.event.envelope.event_id,
            event_type: p.event.envelope.event_type,
            destination: this.#o.queue,
          })
        : null,
    );
  }

  async #commit(batch: Pending[]): Promise<void> {
    let delay = RETRY_FIRST_MS;
    for (;;) {
      const started = performance.now();
      const handles = this.#handleSpans(batch);
      try {
        const result = await this.#o.store.append(batch.map((p) => p.event));
        const seconds = (performance.now() - started) / 1000;
        for (const p of batch) p.delivery.ack();
        if (handles) {
          for (const h of handles) h?.end();
          for (const p of batch) endSpan(p);
        }
        this.#committed(result.stored, result.duplicates, seconds);
        this.#recovered();
        return;
      } catch (err) {
        if (handles) for (const h of handles) h?.end(err);
        this.#o.metrics.insertFailures.inc();
        if (classifyAppendError(err) === 'isolate') {
          await this.#isolatePoison(batch, err);
          return;
        }
        this.#holding(err);
        if (this.#stopping) {
          // requeued, not dead-lettered: the next consumer gets them once the database answers
          for (const p of batch) {
            p.delivery.nack({ requeue: true });
            endSpan(p, err);
          }
          return;
        }
        const wait = jittered(delay);
        this.#o.log.warn(
          { err: errorMessage(err), code: sqlState(err), retryInMs: wait, heldSince: this.held?.since },
          'database refuses writes; batch held',
        );
        await this.#sleep(wait);
        delay = nextRetryDelay(delay);
      }
    }
  }

  #holding(err: unknown): void {
    const m = this.#o.metrics;
    if (!this.held) {
      this.held = { error: '', code: null, since: new Date(), attempts: 0 };
      m.heldSince.set(this.held.since.getTime() / 1000);
    }
    this.held.error = errorMessage(err);
    this.held.code = sqlState(err);
    this.held.attempts++;
    m.heldBatch.set(1);
    m.insertRetries.inc();
  }

  #recovered(): void {
    if (!this.held) return;
    this.#o.log.info(
      { heldSince: this.held.since, attempts: this.held.attempts },
      'database accepts writes again; batch committed',
    );
    this.held = null;
    this.#o.metrics.heldBatch.set(0);
    this.#o.metrics.heldSince.set(0);
  }

  /** Waits `ms`, or less when the ingester stops meanwhile. */
  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    }).finally(() => {
      this.#wake = null;
    });
  }

  /** A batch failed for its data: commit halves separately until the offending event is alone, then dead-letter it. */
  async #isolatePoison(batch: Pending[], err: unknown): Promise<void> {
    if (batch.length === 1) {
      const e = new UnstorableEventError(err instanceof Error ? err.message : String(err));
      await this.#deadLetter(batch[0]!.delivery, e);
      endSpan(batch[0]!, e);
      return;
    }
    const mid = Math.ceil(batch.length / 2);
    await this.#commit(batch.slice(0, mid));
    await this.#commit(batch.slice(mid));
  }

  #committed(stored: readonly AppendedEvent[], duplicates: number, seconds: number): void {
    const m = this.#o.metrics;
    m.eventsStored.inc(stored.length);
    m.duplicates.inc(duplicates);
    m.batchSize.observe(stored.length + duplicates);
    m.insertSeconds.observe(seconds);
    this.lastCommitAt = new Date();
    m.lastCommit.set(this.lastCommitAt.getTime() / 1000);
    if (stored.length > 0) this.#o.onCommit?.(stored);
    if (this.#o.publishSummaries && stored.some((e) => e.event_type !== PERSISTED_EVENT_TYPE)) {
      const summary = persistedSummary(stored, duplicates, seconds * 1000);
      // Summaries go out in commit order, after the acks; a failed one is logged, not retried
      // (it describes data that is safe in the store either way).
      this.#summaries = this.#summaries.then(() => this.#publishSummary(summary));
    }
  }

  async #publishSummary(env: EventEnvelope): Promise<void> {
    try {
      const { routingKey, body, properties } = encodeEnvelope(env);
      await this.#o.transport.publish({
        exchange: this.#o.exchange,
        routingKey,
        body,
        properties: { ...properties, persistent: true },
        mandatory: false,
      });
    } catch (err) {
      this.#o.log.warn({ err: (err as Error).message }, 'could not publish candystore.event.persisted');
    }
  }
}

/**
 * The batch summary. A batch made only of summaries gets none, so summaries stored by this
 * very store never cause more summaries: at most one per batch of other events.
 */
export function persistedSummary(
  stored: readonly AppendedEvent[],
  duplicates: number,
  durationMs: number,
): EventEnvelope<CandystoreEventPersistedV1Payload> {
  const types = [...new Set(stored.map((e) => e.event_type))].sort();
  return completeEnvelope<CandystoreEventPersistedV1Payload>(
    {
      event_type: PERSISTED_EVENT_TYPE,
      payload: {
        count: stored.length,
        first_position: Number(stored[0]!.position),
        last_position: Number(stored.at(-1)!.position),
        event_ids: stored.slice(0, 1000).map((e) => e.event_id),
        event_types: types,
        duplicates,
        duration_ms: Math.round(durationMs * 1000) / 1000,
      },
    },
    { app: 'candystore', trigger_type: 'event' },
  );
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Headers as JSON (AMQP can carry buffers and longs). */
function jsonHeaders(h: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!h) return {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(h)) {
    if (Buffer.isBuffer(v)) out[k] = v.toString('utf8');
    else if (typeof v === 'bigint') out[k] = v.toString();
    else if (v !== undefined) out[k] = v;
  }
  return out;
}

export class InvalidEnvelopeError extends Error {
  override name = 'InvalidEnvelopeError';
}

export class UnstorableEventError extends Error {
  override name = 'UnstorableEventError';
}

/** Ends an event's `deliver` span once, when its delivery is settled. */
function endSpan(p: Pending, error?: unknown): void {
  p.span?.end(error);
  p.span = null;
}
