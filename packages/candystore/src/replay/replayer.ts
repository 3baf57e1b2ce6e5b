import { randomUUID } from 'node:crypto';
import type { OutgoingMessage, Transport } from '@33god/bloodbank';
import { AMQP_HEADERS, AppError } from '@33god/core';
import type { FastifyBaseLogger } from 'fastify';
import type { StoreMetrics } from '../metrics.js';
import type { EventStore, ReplayRow } from '../storage/event-store.js';
import type { EventFilter } from '../storage/types.js';

export type ReplayTarget = { exchange: string } | { queue: string };
export type ReplayStatus = 'running' | 'completed' | 'cancelled' | 'failed';

export interface ReplayRequest {
  filter: EventFilter;
  target: ReplayTarget;
  ratePerSecond?: number;
}

export interface ReplayInfo {
  id: string;
  status: ReplayStatus;
  total: number;
  published: number;
  started_at: string;
  finished_at: string | null;
  error?: string;
}

interface ReplayJob {
  info: ReplayInfo;
  cancelled: boolean;
  done: Promise<void>;
}

const PAGE = 500;
/** Publishes awaiting their confirm at once; one channel keeps them in order. */
const WINDOW = 128;
const KEEP_FINISHED = 200;
/** The widest window of positions one page query may scan (see PageWindow). */
const MAX_SPAN = 1n << 20n;

/**
 * Republishes stored events, in position order, to an exchange (with their original routing
 * keys) or to one queue (through the default exchange). Every copy carries `x-replay-id`.
 * The set replayed is fixed when the replay starts: events stored later are not included.
 * Progress lives in memory (a restart forgets finished replays).
 */
export class Replayer {
  readonly #store: EventStore;
  readonly #transport: Transport;
  readonly #metrics: StoreMetrics;
  readonly #log: FastifyBaseLogger | undefined;
  readonly #jobs = new Map<string, ReplayJob>();

  constructor(store: EventStore, transport: Transport, metrics: StoreMetrics, log?: FastifyBaseLogger) {
    this.#store = store;
    this.#transport = transport;
    this.#metrics = metrics;
    this.#log = log;
  }

  /** Checks the target exists, then starts the replay in the background. */
  async start(req: ReplayRequest): Promise<ReplayInfo> {
    if ('exchange' in req.target) {
      if (!(await this.#transport.checkExchange(req.target.exchange))) {
        throw new AppError('NOT_FOUND', `exchange '${req.target.exchange}' does not exist`);
      }
    } else if (!(await this.#transport.checkQueue(req.target.queue))) {
      throw new AppError('QUEUE_NOT_FOUND', `queue '${req.target.queue}' does not exist`);
    }
    const head = await this.#store.headPosition();
    const total = await this.#store.count({ ...req.filter, maxPosition: head });
    const id = randomUUID();
    const info: ReplayInfo = {
      id,
      status: 'running',
      total,
      published: 0,
      started_at: new Date().toISOString(),
      finished_at: null,
    };
    const job: ReplayJob = { info, cancelled: false, done: Promise.resolve() };
    job.done = this.#run(job, req, head);
    this.#jobs.set(id, job);
    this.#prune();
    return { ...info };
  }

  get(id: string): ReplayInfo | null {
    const job = this.#jobs.get(id);
    return job ? { ...job.info } : null;
  }

  /** Cancels a running replay; returns its state (unchanged if already finished). */
  async cancel(id: string): Promise<ReplayInfo | null> {
    const job = this.#jobs.get(id);
    if (!job) return null;
    job.cancelled = true;
    await job.done;
    return { ...job.info };
  }

  /** Cancels every running replay and waits for them. */
  async close(): Promise<void> {
    for (const job of this.#jobs.values()) job.cancelled = true;
    await Promise.all([...this.#jobs.values()].map((j) => j.done));
  }

  async #run(job: ReplayJob, req: ReplayRequest, head: string): Promise<void> {
    const info = job.info;
    const started = performance.now();
    const inFlight = new Set<Promise<void>>();
    let failure: unknown = null;
    try {
      const pages = new PageWindow(head, (after, upTo) =>
        this.#store.replayPage({ ...req.filter, maxPosition: upTo }, after, PAGE),
      );
      let next = pages.next();
      for (;;) {
        const rows = await next;
        if (rows === null) break;
        // read the next page while this one is being published
        next = pages.next();
        next.catch(() => {});
        for (const row of rows) {
          if (job.cancelled || failure) break;
          if (req.ratePerSecond) {
            const due = started + (info.published + inFlight.size) * (1000 / req.ratePerSecond);
            const wait = due - performance.now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          }
          const p: Promise<void> = this.#transport.publish(this.#message(row, req.target, info.id)).then(
            () => {
              inFlight.delete(p);
              info.published++;
              this.#metrics.replayed.inc();
            },
            (err: unknown) => {
              inFlight.delete(p);
              failure ??= err;
            },
          );
          inFlight.add(p);
          if (inFlight.size >= WINDOW) await Promise.race(inFlight);
        }
        if (job.cancelled || failure) break;
      }
      await Promise.all(inFlight);
      if (failure) throw failure;
      info.status = job.cancelled ? 'cancelled' : 'completed';
    } catch (err) {
      await Promise.allSettled(inFlight);
      info.status = job.cancelled ? 'cancelled' : 'failed';
      if (!job.cancelled) {
        info.error =
          err instanceof AppError ? err.message : 'the replay stopped: the broker or the store failed';
        this.#log?.error({ err, replay: info.id }, 'replay failed');
      }
    } finally {
      info.finished_at = new Date().toISOString();
    }
  }

  #message(row: ReplayRow, target: ReplayTarget, replayId: string): OutgoingMessage {
    const headers: Record<string, string> = {
      [AMQP_HEADERS.eventType]: row.event_type,
      [AMQP_HEADERS.version]: row.version,
      [AMQP_HEADERS.sourceApp]: row.source_app,
      [AMQP_HEADERS.replayId]: replayId,
    };
    if (row.correlation_id) headers[AMQP_HEADERS.correlationId] = row.correlation_id;
    if (row.causation_id) headers[AMQP_HEADERS.causationId] = row.causation_id;
    const toQueue = 'queue' in target;
    return {
      exchange: toQueue ? '' : target.exchange,
      routingKey: toQueue ? target.queue : row.routing_key,
      body: Buffer.from(row.body),
      properties: {
        messageId: row.event_id,
        type: row.event_type,
        timestamp: Math.floor(Date.parse(row.ts) / 1000),
        contentType: 'application/json',
        appId: row.source_app,
        ...(row.correlation_id ? { correlationId: row.correlation_id } : {}),
        headers,
        persistent: true,
      },
      // A replay to an exchange delivers to whoever is bound now; no binding is not an error.
      mandatory: toQueue,
    };
  }

  #prune(): void {
    if (this.#jobs.size <= KEEP_FINISHED) return;
    for (const [id, job] of this.#jobs) {
      if (this.#jobs.size <= KEEP_FINISHED) break;
      if (job.info.status !== 'running') this.#jobs.delete(id);
    }
  }
}

/**
 * The pages of a replay, in position order, each read from a bounded window of positions
 * (`after < position <= upTo`) rather than "everything after `after`, first PAGE rows".
 * An unbounded query makes the planner's choice matter: on stale statistics (right after a
 * bulk ingest) it picked a scan of every remaining row plus a top-N sort for each page,
 * so a replay cost O(n²). A window bounds each query's work whatever the plan. The window
 * doubles while pages come back sparse (a selective filter) and halves when one fills up.
 */
export class PageWindow<Row extends { position: string }> {
  readonly #end: bigint;
  readonly #read: (after: string, upTo: string) => Promise<Row[]>;
  #after = 0n;
  #span = BigInt(PAGE);

  constructor(head: string, read: (after: string, upTo: string) => Promise<Row[]>) {
    this.#end = BigInt(head);
    this.#read = read;
  }

  /** The next non-empty page, or null after the last one. Not reentrant: await each call. */
  async next(): Promise<Row[] | null> {
    while (this.#after < this.#end) {
      const upTo = this.#after + this.#span < this.#end ? this.#after + this.#span : this.#end;
      const rows = await this.#read(String(this.#after), String(upTo));
      if (rows.length >= PAGE) {
        this.#after = BigInt(rows.at(-1)!.position);
        if (this.#span > BigInt(PAGE)) this.#span /= 2n;
        return rows;
      }
      this.#after = upTo;
      if (rows.length < PAGE / 2 && this.#span < MAX_SPAN) this.#span *= 2n;
      if (rows.length > 0) return rows;
    }
    return null;
  }
}
