import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { OutgoingMessage, Transport } from '@33god/bloodbank';
import { AMQP_HEADERS, AppError, isAppError } from '@33god/core';
import type { FastifyBaseLogger } from 'fastify';
import type { StoreMetrics } from '../metrics.js';
import { isTransientDbError } from '../storage/database.js';
import type { EventStore, ReplayRow } from '../storage/event-store.js';
import type {
  EventFilter,
  ReplayProgress,
  ReplayStatus,
  ReplayTarget,
  StoredReplay,
} from '../storage/types.js';
import { forbiddenTarget, type ReplayTargets } from './targets.js';

export type { ReplayStatus, ReplayTarget };

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

export interface ReplayerOptions {
  /**
   * How long a replay's lease lasts unless renewed: the replays of an instance that died
   * are taken over this long after its last progress write. Default 15 000 ms, at least 1 000.
   */
  leaseMs?: number;
  /** Where `start` may publish. Default: nowhere (every start is REPLAY_TARGET_FORBIDDEN). */
  targets?: ReplayTargets;
  /**
   * Most replays running at once; `start` beyond it is a CONFLICT (409). Counted in the
   * replays table, where their state lives, so the bound holds across every instance on the
   * database and counts the running replays a dead instance left for another to resume.
   * Default 4.
   */
  maxRunning?: number;
}

/**
 * Why a job stops before its end: a DELETE to this instance, shutdown, the row no longer
 * running under this owner (cancelled through the table, or taken over), a lease this
 * instance could not renew in time (the database does not answer), or a broker error before
 * a resumed replay could start (the next `resume()` tries again).
 */
type Halt = 'cancel' | 'close' | 'lost' | 'lease' | 'retry';

interface ReplayJob {
  id: string;
  halt: Halt | null;
  /** Ends a rate-limit wait early once the job halts. */
  interrupt: (() => void) | null;
  done: Promise<void>;
}

const PAGE = 500;
/**
 * Publishes awaiting their confirm at once; one channel keeps them in order. A full window
 * reopens when half of it is confirmed, so publishes leave in runs of WINDOW / 2 (one socket
 * write each) instead of one at a time as each confirm comes back.
 */
const WINDOW = 128;
/** The widest window of positions one page query may scan (see PageWindow). */
const MAX_SPAN = 1n << 20n;
const LEASE_MS = 15_000;
const MAX_RUNNING = 4;
/**
 * Progress is written on a clock, every 250 ms while a replay runs, rather than after each
 * page: the same write renews the lease and is where a cancel made through the table is
 * noticed, and with a rate limit one page of 500 events can take minutes, so all three need a
 * bound in time, not in events. At full speed it is four small writes a second whatever the
 * event rate, and never a round trip per event.
 */
const PROGRESS_MS = 250;
/** Attempts to record a replay's outcome before leaving it to the lease to expire. */
const SETTLE_DELAYS_MS = [0, 250, 1000];

/**
 * Republishes stored events, in position order, to an exchange (with their original routing
 * keys) or to one queue (through the default exchange). Every copy carries `x-replay-id`.
 * The set replayed is fixed when the replay starts: events stored later are not included.
 *
 * Replays live in the `replays` table: request, progress (the in-order confirmed count and
 * the last confirmed position), outcome, and a lease naming the one instance that publishes
 * them. `close()` stops this instance's replays without finishing them; `resume()` (at start,
 * then periodically) takes over the running replays nobody holds and publishes again from
 * after their last recorded position: at least once, so what an instance that died had
 * published after its last progress write is delivered twice, with the same `x-replay-id`.
 */
export class Replayer {
  /** This instance's name in the lease column. */
  readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly leaseMs: number;
  readonly #targets: ReplayTargets;
  readonly #maxRunning: number;
  readonly #store: EventStore;
  readonly #transport: Transport;
  readonly #metrics: StoreMetrics;
  readonly #log: FastifyBaseLogger | undefined;
  /** The replays this instance publishes now. */
  readonly #jobs = new Map<string, ReplayJob>();
  #closed = false;
  #resuming: Promise<number> | null = null;

  constructor(
    store: EventStore,
    transport: Transport,
    metrics: StoreMetrics,
    log?: FastifyBaseLogger,
    options: ReplayerOptions = {},
  ) {
    this.#store = store;
    this.#transport = transport;
    this.#metrics = metrics;
    this.#log = log;
    const checked = checkReplayerOptions(options);
    this.leaseMs = checked.leaseMs;
    this.#targets = checked.targets;
    this.#maxRunning = checked.maxRunning;
  }

  /**
   * Checks the target is allowed and exists, records the replay unless too many run, then
   * runs it in the background.
   */
  async start(req: ReplayRequest): Promise<ReplayInfo> {
    if (this.#closed) throw new AppError('SERVICE_UNAVAILABLE', 'the store is shutting down');
    const forbidden = forbiddenTarget(req.target, this.#targets);
    if (forbidden) throw forbidden;
    const missing = await this.#missingTarget(req.target);
    if (missing) throw missing;
    const head = await this.#store.headPosition();
    const total = await this.#store.count({ ...req.filter, maxPosition: head });
    const leaseFrom = performance.now();
    const replay = await this.#store.createReplayWithin(
      {
        id: randomUUID(),
        filter: req.filter,
        target: req.target,
        ratePerSecond: req.ratePerSecond ?? null,
        headPosition: head,
        total,
      },
      this.owner,
      this.leaseMs,
      this.#maxRunning,
    );
    if (!replay) {
      throw new AppError(
        'CONFLICT',
        `${this.#maxRunning} replays are running, the most at once; wait for one to finish or cancel one (DELETE /replays/{id})`,
        { extra: { max_running: this.#maxRunning } },
      );
    }
    if (this.#closed) {
      // shut down meanwhile: the next start runs it
      await this.#store.releaseReplay(replay.id, this.owner, replay).catch(() => {});
    } else {
      this.#launch(replay, leaseFrom, false);
    }
    return toInfo(replay);
  }

  /** The replay as its row says, whichever instance runs or ran it. */
  async get(id: string): Promise<ReplayInfo | null> {
    const replay = await this.#store.getReplay(id);
    return replay ? toInfo(replay) : null;
  }

  /**
   * Cancels a running replay; returns its state (unchanged if already finished). One run by
   * this instance has stopped when this returns; one run by another instance stops at that
   * instance's next progress write, which also records the events it published meanwhile.
   */
  async cancel(id: string): Promise<ReplayInfo | null> {
    const job = this.#jobs.get(id);
    if (job) {
      halt(job, 'cancel');
      await job.done;
    }
    const replay = await this.#store.cancelReplay(id);
    return replay ? toInfo(replay) : null;
  }

  /**
   * Takes over the running replays nobody holds (their instance shut down, or died and its
   * lease expired) and resumes each after its last recorded position. Returns how many.
   * Does nothing while the broker is not connected, or after `close()`.
   */
  resume(): Promise<number> {
    this.#resuming ??= this.#claim().finally(() => {
      this.#resuming = null;
    });
    return this.#resuming;
  }

  /**
   * Stops this instance's replays and waits for them. They stay `running` in the table with
   * their progress, and their leases are given up, so the next start (or another instance)
   * resumes them at once. Nothing is marked cancelled.
   */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#resuming?.catch(() => {});
    for (const job of this.#jobs.values()) halt(job, 'close');
    await Promise.all([...this.#jobs.values()].map((j) => j.done));
  }

  async #claim(): Promise<number> {
    if (this.#closed || this.#transport.state !== 'connected') return 0;
    const leaseFrom = performance.now();
    const claimed = await this.#store.claimReplays(this.owner, this.leaseMs, [...this.#jobs.keys()]);
    for (const replay of claimed) {
      if (this.#closed) {
        await this.#store.releaseReplay(replay.id, this.owner, replay).catch(() => {});
        continue;
      }
      this.#log?.info(
        {
          replay: replay.id,
          after_position: replay.lastPosition,
          published: replay.published,
          total: replay.total,
        },
        'replay resumed',
      );
      this.#launch(replay, leaseFrom, true);
    }
    return claimed.length;
  }

  async #missingTarget(target: ReplayTarget): Promise<AppError | null> {
    if ('exchange' in target) {
      if (!(await this.#transport.checkExchange(target.exchange))) {
        return new AppError('NOT_FOUND', `exchange '${target.exchange}' does not exist`);
      }
    } else if (!(await this.#transport.checkQueue(target.queue))) {
      return new AppError('QUEUE_NOT_FOUND', `queue '${target.queue}' does not exist`);
    }
    return null;
  }

  /** `leaseFrom`: when the query that leased the replay was sent (the lease runs from then). */
  #launch(replay: StoredReplay, leaseFrom: number, resumed: boolean): void {
    const job: ReplayJob = { id: replay.id, halt: null, interrupt: null, done: Promise.resolve() };
    this.#jobs.set(replay.id, job);
    job.done = this.#run(job, replay, leaseFrom, resumed).finally(() => this.#jobs.delete(replay.id));
  }

  async #run(job: ReplayJob, replay: StoredReplay, leaseFrom: number, resumed: boolean): Promise<void> {
    const progress: ReplayProgress = { published: replay.published, lastPosition: replay.lastPosition };
    const lease = this.#heartbeat(job, progress, leaseFrom);
    let outcome: Outcome;
    try {
      // the target may have gone while nobody ran the replay; a broker error leaves it for later
      const missing = resumed ? await this.#missingTarget(replay.target) : null;
      outcome = missing
        ? { finished: false, failure: missing }
        : await this.#publish(job, replay, progress, lease);
    } catch (err) {
      this.#log?.warn(
        { err: err instanceof Error ? err.message : String(err), replay: job.id },
        'replay not resumed; left for the next attempt',
      );
      halt(job, 'retry');
      outcome = { finished: false, failure: null };
    } finally {
      await lease.stop();
    }
    await this.#settle(job, progress, outcome);
  }

  /**
   * Writes the progress and renews the lease every PROGRESS_MS until stopped; halts the job
   * when the row is no longer running under this owner. `held()` turns false once a third of
   * the lease has gone unrenewed (the database does not answer): the job then stops
   * publishing well before another instance may take the replay over.
   */
  #heartbeat(
    job: ReplayJob,
    progress: ReplayProgress,
    leaseFrom: number,
  ): { held(): boolean; stop(): Promise<void> } {
    let leaseUntil = leaseFrom + this.leaseMs;
    let writing: Promise<void> | null = null;
    let failures = 0;
    const write = async () => {
      const sent = performance.now();
      try {
        if (await this.#store.recordReplayProgress(job.id, this.owner, progress, this.leaseMs)) {
          leaseUntil = sent + this.leaseMs;
        } else {
          halt(job, 'lost');
        }
        failures = 0;
      } catch (err) {
        if (failures++ === 0) {
          this.#log?.warn(
            { err: err instanceof Error ? err.message : String(err), replay: job.id },
            'replay progress not recorded; retrying',
          );
        }
      }
    };
    const timer = setInterval(() => {
      writing ??= write().finally(() => {
        writing = null;
      });
    }, PROGRESS_MS);
    return {
      held: () => performance.now() < leaseUntil - this.leaseMs / 3,
      stop: async () => {
        clearInterval(timer);
        await writing;
      },
    };
  }

  /** Publishes the events after `progress.lastPosition` up to the head, until the end or a halt. */
  async #publish(
    job: ReplayJob,
    replay: StoredReplay,
    progress: ReplayProgress,
    lease: { held(): boolean },
  ): Promise<Outcome> {
    const started = performance.now();
    const confirmed = new InOrderConfirms(progress);
    const pending = new ConfirmWindow();
    let failure: unknown = null;
    let sent = 0;
    let finished = false;
    const pages = new PageWindow(
      replay.headPosition,
      (after, upTo) => this.#store.replayPage({ ...replay.filter, maxPosition: upTo }, after, PAGE),
      replay.lastPosition,
    );
    let next = pages.next();
    try {
      reading: for (;;) {
        const rows = await next;
        if (rows === null) {
          finished = true;
          break;
        }
        // read the next page while this one is being published
        next = pages.next();
        next.catch(() => {});
        for (const row of rows) {
          if (!lease.held()) halt(job, 'lease');
          if (job.halt || failure) break reading;
          if (replay.ratePerSecond) {
            const wait = started + sent * (1000 / replay.ratePerSecond) - performance.now();
            if (wait > 0) await pause(job, wait);
            if (job.halt) break reading;
          }
          const confirm = confirmed.sent(row.position);
          pending.add();
          this.#transport.publish(this.#message(row, replay.target, replay.id)).then(
            () => {
              confirm();
              this.#metrics.replayed.inc();
              pending.settle();
            },
            (err: unknown) => {
              failure ??= err;
              pending.settle();
            },
          );
          sent++;
          if (pending.size >= WINDOW) await pending.until(WINDOW / 2);
        }
      }
    } catch (err) {
      failure ??= err;
    }
    await pending.until(0);
    // a page read ahead must not outlive the replay (the store may be closed next)
    await next.catch(() => {});
    return { finished: finished && !failure, failure };
  }

  /** Records how the run ended: an outcome, or (stopped before its end) the progress to resume from. */
  async #settle(job: ReplayJob, progress: ReplayProgress, outcome: Outcome): Promise<void> {
    const { finished, failure } = outcome;
    // not ours any more (cancelled through the table, the lease lapsed) or not startable now:
    // record what was published and let go; a failure then is for whoever resumes it to meet
    const letGo = job.halt === 'lost' || job.halt === 'lease' || job.halt === 'retry';
    let record: () => Promise<void>;
    if (job.halt === 'cancel') {
      record = () => this.#store.finishReplay(job.id, this.owner, progress, 'cancelled', null);
    } else if (failure && !letGo && isInterruption(failure)) {
      // the broker or the database went away under it: not the replay's fault, so it is
      // released with its progress and resumed after it once they are back
      this.#log?.warn(
        {
          err: failure instanceof Error ? failure.message : String(failure),
          replay: job.id,
          published: progress.published,
        },
        'replay interrupted; it resumes from its progress once the broker and the database answer',
      );
      record = () => this.#store.releaseReplay(job.id, this.owner, progress);
    } else if (failure && !letGo) {
      this.#log?.error({ err: failure, replay: job.id }, 'replay failed');
      const error =
        failure instanceof AppError ? failure.message : 'the replay stopped: the broker or the store failed';
      record = () => this.#store.finishReplay(job.id, this.owner, progress, 'failed', error);
    } else if (finished) {
      record = () => this.#store.finishReplay(job.id, this.owner, progress, 'completed', null);
    } else {
      record = () => this.#store.releaseReplay(job.id, this.owner, progress);
    }
    for (const [attempt, delay] of SETTLE_DELAYS_MS.entries()) {
      if (delay) await new Promise((r) => setTimeout(r, delay));
      try {
        await record();
        return;
      } catch (err) {
        if (attempt === SETTLE_DELAYS_MS.length - 1) {
          this.#log?.error(
            { err: err instanceof Error ? err.message : String(err), replay: job.id },
            'replay state not recorded; it is resumed from its last progress once its lease expires',
          );
        }
      }
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
    if (row.traceparent) {
      headers[AMQP_HEADERS.traceparent] = row.traceparent;
      if (row.tracestate) headers[AMQP_HEADERS.tracestate] = row.tracestate;
    }
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
}

/** The options with their defaults, validated (CONFIG_INVALID). */
export function checkReplayerOptions(options: ReplayerOptions): Required<ReplayerOptions> {
  const leaseMs = options.leaseMs ?? LEASE_MS;
  const maxRunning = options.maxRunning ?? MAX_RUNNING;
  if (!Number.isInteger(maxRunning) || maxRunning < 1) {
    throw new AppError('CONFIG_INVALID', 'the most replays running at once must be a whole number >= 1');
  }
  // renewals every PROGRESS_MS must keep a lease well inside its first two thirds
  if (!Number.isInteger(leaseMs) || leaseMs < 4 * PROGRESS_MS) {
    throw new AppError(
      'CONFIG_INVALID',
      `the replay lease must be a whole number of ms >= ${4 * PROGRESS_MS}`,
    );
  }
  return { leaseMs, maxRunning, targets: options.targets ?? { exchanges: [], queues: [] } };
}

interface Outcome {
  /** Every event up to the head was published and confirmed. */
  finished: boolean;
  failure: unknown;
}

/** Sets why the job stops (the first reason wins, but a DELETE overrides a shutdown). */
/** Broker codes that say the connection went away, not that the broker refused the replay. */
const INTERRUPTION_CODES = new Set(['BROKER_UNAVAILABLE', 'PUBLISH_TIMEOUT', 'TRANSPORT_CLOSED']);

/**
 * Whether a replay stopped because the broker connection or the database went away (it is
 * resumed from its progress once they answer) rather than because of the replay itself (a
 * target deleted or refusing messages: it fails, with the reason).
 */
function isInterruption(err: unknown): boolean {
  if (isAppError(err)) return INTERRUPTION_CODES.has(err.code) || err.code === 'DATABASE_UNAVAILABLE';
  return isTransientDbError(err);
}

function halt(job: ReplayJob, reason: Halt): void {
  if (job.halt !== null && !(reason === 'cancel' && job.halt === 'close')) return;
  job.halt = reason;
  job.interrupt?.();
}

/** Waits `ms`, or less if the job halts meanwhile. */
function pause(job: ReplayJob, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      job.interrupt = null;
      resolve();
    };
    const timer = setTimeout(done, ms);
    job.interrupt = done;
  });
}

function toInfo(r: StoredReplay): ReplayInfo {
  return {
    id: r.id,
    status: r.status,
    total: r.total,
    published: r.published,
    started_at: r.startedAt.toISOString(),
    finished_at: r.finishedAt?.toISOString() ?? null,
    ...(r.error !== null ? { error: r.error } : {}),
  };
}

/** Counts the publishes awaiting their confirm, and lets the publisher wait for fewer. */
class ConfirmWindow {
  #size = 0;
  #wake: { atMost: number; resolve: () => void } | null = null;

  get size(): number {
    return this.#size;
  }

  add(): void {
    this.#size++;
  }

  /** A publish was confirmed or failed. */
  settle(): void {
    this.#size--;
    const w = this.#wake;
    if (w && this.#size <= w.atMost) {
      this.#wake = null;
      w.resolve();
    }
  }

  /** Resolves once at most `atMost` publishes await their confirm (one waiter at a time). */
  until(atMost: number): Promise<void> {
    if (this.#size <= atMost) return Promise.resolve();
    return new Promise((resolve) => {
      this.#wake = { atMost, resolve };
    });
  }
}

/**
 * Advances a replay's progress over confirmed publishes in the order they were sent, so
 * `lastPosition` only ever names an event that was confirmed together with every event
 * before it: a resume after it skips nothing, even if confirms came back out of order.
 */
class InOrderConfirms {
  readonly #progress: ReplayProgress;
  readonly #sent: { position: string; confirmed: boolean }[] = [];
  #next = 0;

  constructor(progress: ReplayProgress) {
    this.#progress = progress;
  }

  /** Call as the publish of `position` goes out; call what it returns once it is confirmed. */
  sent(position: string): () => void {
    const entry = { position, confirmed: false };
    this.#sent.push(entry);
    return () => {
      entry.confirmed = true;
      this.#advance();
    };
  }

  #advance(): void {
    for (let e = this.#sent[this.#next]; e?.confirmed; e = this.#sent[++this.#next]) {
      this.#progress.lastPosition = e.position;
      this.#progress.published++;
    }
    // at most WINDOW entries are unconfirmed: drop the confirmed ones now and then
    if (this.#next >= 1024) {
      this.#sent.splice(0, this.#next);
      this.#next = 0;
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
  #after: bigint;
  #span = BigInt(PAGE);

  /** `after`: where to start (exclusive; a resumed replay's last published position). */
  constructor(head: string, read: (after: string, upTo: string) => Promise<Row[]>, after = '0') {
    this.#end = BigInt(head);
    this.#read = read;
    this.#after = BigInt(after);
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
