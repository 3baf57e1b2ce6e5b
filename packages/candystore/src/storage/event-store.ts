import { ENVELOPE_FIELDS } from '@33god/core';
import { filterToSql } from '../query/filters.js';
import {
  choosePayloadPlan,
  PAYLOAD_PLAN_MIN_ROWS,
  type PayloadPlan,
  samplePercent,
} from '../query/payload-plan.js';
import type { Database } from './database.js';
import { sqlQuery } from './sql.js';
import type {
  AppendedEvent,
  AppendResult,
  EventFilter,
  NewEvent,
  NewReplay,
  PartitionInfo,
  ReplayProgress,
  ReplayStatus,
  ReplayTarget,
  StatsBucket,
  StoredEvent,
  StoredEventWithExtensions,
  StoredReplay,
} from './types.js';

const STANDARD = new Set<string>(ENVELOPE_FIELDS);

/** A stored event as a replay publishes it. */
export interface ReplayRow {
  position: string;
  routing_key: string;
  event_id: string;
  event_type: string;
  version: string;
  source_app: string;
  correlation_id: string | null;
  causation_id: string | null;
  /** The envelope's W3C trace context, for the message headers (null without one). */
  traceparent: string | null;
  tracestate: string | null;
  /** RFC 3339 UTC */
  ts: string;
  /** The envelope as JSON text. */
  body: string;
}

export interface AppendOptions {
  /** Runs after the insert, before COMMIT (tests hold commits open with it). */
  beforeCommit?: () => Promise<void>;
}

export interface ListPage {
  /** Rows come back in this order. */
  order: 'asc' | 'desc';
  /** Exclusive bound: positions strictly after it in `order`. */
  after?: string;
  limit: number;
}

/** The store's domain interface; the HTTP API, stream, replay and ingest only see this. */
export interface EventStoreOptions {
  /**
   * Tables with fewer rows (by the statistics) leave pages with a payload filter to the
   * planner (see query/payload-plan.ts). Default PAYLOAD_PLAN_MIN_ROWS.
   */
  payloadPlanMinRows?: number;
}

/** How long the table's row count (from the statistics) is reused. */
const TABLE_ROWS_TTL_MS = 60_000;

export class EventStore {
  readonly db: Database;
  #partitionsReady = new Set<string>();
  readonly #payloadPlanMinRows: number;
  #tableRows: { rows: number; at: number } | null = null;

  constructor(db: Database, options: EventStoreOptions = {}) {
    this.db = db;
    this.#payloadPlanMinRows = options.payloadPlanMinRows ?? PAYLOAD_PLAN_MIN_ROWS;
  }

  get kind(): Database['kind'] {
    return this.db.kind;
  }

  /**
   * Stores a batch atomically; events already stored (same event_id) are skipped. The SQL
   * function takes a transaction-level advisory lock before positions are assigned and holds
   * it to commit, so appends commit in position order (the live stream depends on it).
   */
  async append(batch: readonly NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    const seen = new Set<string>();
    const unique: NewEvent[] = [];
    for (const e of batch) {
      const id = e.envelope.event_id.toLowerCase();
      if (seen.has(id)) continue;
      seen.add(id);
      unique.push(e);
    }
    if (unique.length === 0) return { stored: [], duplicates: batch.length };
    const params = appendParams(unique);
    await this.#ensureCurrentPartition();
    const hold = options.beforeCommit;
    const run = () =>
      hold
        ? this.db.transaction(async (tx) => {
            const out = await tx.query<AppendedEvent>(sqlQuery('append'), params);
            await hold();
            return out;
          })
        : this.db.query<AppendedEvent>(sqlQuery('append'), params);
    let rows: AppendedEvent[];
    try {
      rows = await run();
    } catch (err) {
      // 23514 "no partition found for row": our clock and the database's disagree on the month
      if ((err as { code?: unknown }).code !== '23514') throw err;
      this.#partitionsReady.clear();
      await this.#ensureCurrentPartition();
      rows = await run();
    }
    return { stored: rows, duplicates: batch.length - rows.length };
  }

  async get(eventId: string): Promise<StoredEventWithExtensions | null> {
    const rows = await this.db.query<RawRow>(sqlQuery('get-event'), [eventId]);
    return rows[0] ? toStored(rows[0]) : null;
  }

  /**
   * One page of a filtered listing by position (keyset). A page with a payload filter is read
   * the way a sample of the table shows to be cheaper, rather than the way the planner's
   * statistics suggest (query/payload-plan.ts).
   */
  async list(filter: EventFilter, page: ListPage): Promise<StoredEventWithExtensions[]> {
    const plan = await this.#payloadPlan(filter, page.limit);
    if (plan.kind === 'ordered') {
      const rows = await this.db.query<RawRow>(...this.#listInWindow(filter, page, plan.window));
      // fewer matches than a page in the window: read the page the planner's way
      if (rows.length >= page.limit) return rows.map(toStored);
    }
    const rows = await this.db.query<RawRow>(...this.#listQuery(filter, page, plan.kind === 'index'));
    return rows.map(toStored);
  }

  /**
   * The page's SQL. `viaPayloadIndex`: the payload conditions alone go in a subquery the
   * planner keeps apart (OFFSET 0), so they are answered by the payload index, and the
   * other conditions apply to the rows it finds.
   */
  #listQuery(filter: EventFilter, page: ListPage, viaPayloadIndex: boolean): [string, unknown[]] {
    const inner = viaPayloadIndex ? filterToSql({ payload: filter.payload }) : { conditions: [], params: [] };
    const where = filterToSql(
      viaPayloadIndex ? { ...filter, payload: undefined } : filter,
      inner.params.length + 1,
    );
    const params = [...inner.params, ...where.params];
    if (page.after !== undefined) {
      params.push(page.after);
      where.conditions.push(afterPosition(page, params.length));
    }
    params.push(page.limit);
    const select = viaPayloadIndex
      ? selectEventsFrom(`SELECT * FROM events WHERE ${inner.conditions.join(' AND ')} OFFSET 0`)
      : sqlQuery('select-events');
    const sql = `${select}${
      where.conditions.length ? `WHERE ${where.conditions.join(' AND ')}\n` : ''
    }ORDER BY position ${page.order === 'asc' ? 'ASC' : 'DESC'}\nLIMIT $${params.length}`;
    return [sql, params];
  }

  /**
   * The page's SQL as a filtered window: the `window` rows next in order that match the
   * conditions other than the payload ones, then the payload conditions on those.
   */
  #listInWindow(filter: EventFilter, page: ListPage, window: number): [string, unknown[]] {
    const order = page.order === 'asc' ? 'ASC' : 'DESC';
    const inner = filterToSql({ ...filter, payload: undefined });
    const params = [...inner.params];
    if (page.after !== undefined) {
      params.push(page.after);
      inner.conditions.push(afterPosition(page, params.length));
    }
    params.push(window);
    const windowSql = `SELECT * FROM events${
      inner.conditions.length ? ` WHERE ${inner.conditions.join(' AND ')}` : ''
    } ORDER BY position ${order} LIMIT $${params.length}`;
    const outer = filterToSql({ payload: filter.payload }, params.length + 1);
    params.push(...outer.params, page.limit);
    const sql = `${selectEventsFrom(windowSql)}WHERE ${outer.conditions.join(' AND ')}\nORDER BY position ${order}\nLIMIT $${params.length}`;
    return [sql, params];
  }

  /** How a page of `filter` is read: see query/payload-plan.ts. */
  async #payloadPlan(filter: EventFilter, limit: number): Promise<PayloadPlan> {
    if (!filter.payload?.length) return { kind: 'planner' };
    const tableRows = await this.#estimatedRows();
    if (tableRows < this.#payloadPlanMinRows) return { kind: 'planner' };
    const payload = filterToSql({ payload: filter.payload });
    payload.params.push(samplePercent(tableRows));
    const [sample] = await this.db.query<{ hits: number; sampled: number }>(
      // the same pages every time (REPEATABLE), so the sample stays in the cache
      `SELECT count(*) FILTER (WHERE ${payload.conditions.join(' AND ')})::int AS hits, count(*)::int AS sampled
       FROM events TABLESAMPLE SYSTEM ($${payload.params.length}::float4) REPEATABLE (0)`,
      payload.params,
    );
    return choosePayloadPlan({ hits: sample?.hits ?? 0, sampled: sample?.sampled ?? 0, tableRows, limit });
  }

  /** Rows in the events table by the statistics (0 before the first ANALYZE), cached a minute. */
  async #estimatedRows(): Promise<number> {
    const now = Date.now();
    if (this.#tableRows && now - this.#tableRows.at < TABLE_ROWS_TTL_MS) return this.#tableRows.rows;
    const rows = await this.db.query<{ rows: number }>(sqlQuery('table-rows'));
    this.#tableRows = { rows: Number(rows[0]?.rows ?? 0), at: now };
    return this.#tableRows.rows;
  }

  /** One page of events as replay messages, ascending by position after `after`. */
  async replayPage(filter: EventFilter, after: string, limit: number): Promise<ReplayRow[]> {
    const where = filterToSql(filter);
    where.params.push(after);
    where.conditions.push(`position > $${where.params.length}::bigint`);
    where.params.push(limit);
    const page = `SELECT * FROM events WHERE ${where.conditions.join(' AND ')} ORDER BY position ASC LIMIT $${where.params.length}`;
    const sql = `${sqlQuery('select-replay')} (${page}) AS events\nORDER BY events.position ASC`;
    const rows = await this.db.query<ReplayRowParts>(sql, where.params);
    return rows.map(toReplayRow);
  }

  /** How many events match (replay progress totals; never used to answer a page). */
  async count(filter: EventFilter): Promise<number> {
    const where = filterToSql(filter);
    const rows = await this.db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM events${where.conditions.length ? ` WHERE ${where.conditions.join(' AND ')}` : ''}`,
      where.params,
    );
    return Number(rows[0]?.n ?? 0);
  }

  async correlation(correlationId: string, limit: number): Promise<StoredEvent[]> {
    const rows = await this.db.query<RawRow>(sqlQuery('correlation'), [correlationId, limit]);
    return rows.map(toStored).map(stripExtensions);
  }

  /** The subset of `ids` stored anywhere. */
  async existingIds(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.db.query<{ event_id: string }>(sqlQuery('existing-ids'), [ids]);
    return new Set(rows.map((r) => r.event_id));
  }

  async stats(
    since: Date,
    until: Date,
    bucketSeconds: number,
  ): Promise<{ byType: StatsBucket[]; bySource: StatsBucket[] }> {
    const params = [since.toISOString(), until.toISOString(), bucketSeconds];
    const [byType, bySource] = await Promise.all([
      this.db.query<{ bucket: Date; key: string; count: number }>(sqlQuery('stats-by-type'), params),
      this.db.query<{ bucket: Date; key: string; count: number }>(sqlQuery('stats-by-source'), params),
    ]);
    const conv = (r: { bucket: Date; key: string; count: number }): StatsBucket => ({
      bucket: toIso(r.bucket),
      key: r.key,
      count: Number(r.count),
    });
    return { byType: byType.map(conv), bySource: bySource.map(conv) };
  }

  /** The highest committed position ("0" when empty). */
  async headPosition(): Promise<string> {
    const rows = await this.db.query<{ position: string }>(sqlQuery('head-position'));
    return rows[0]?.position ?? '0';
  }

  async ping(): Promise<void> {
    await this.db.query('SELECT 1');
  }

  /** Creates the partitions for this month and the next (idempotent). */
  async ensurePartitions(now = new Date()): Promise<void> {
    const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
    for (const at of [now, next]) {
      await this.db.query('SELECT candystore_ensure_partition($1::timestamptz)', [at.toISOString()]);
      this.#partitionsReady.add(monthKey(at));
    }
  }

  async #ensureCurrentPartition(): Promise<void> {
    // The database's clock decides received_at; ours is close enough to decide when to check,
    // and the check itself is idempotent and uses the database's now().
    const key = monthKey(new Date());
    if (this.#partitionsReady.has(key)) return;
    await this.db.query('SELECT candystore_ensure_partition(now())');
    await this.db.query("SELECT candystore_ensure_partition(now() + interval '1 month')");
    this.#partitionsReady.add(key);
  }

  async partitions(): Promise<PartitionInfo[]> {
    const rows = await this.db.query<{ name: string }>(sqlQuery('partitions'));
    const out: PartitionInfo[] = [];
    for (const r of rows) {
      const m = /^events_p(\d{4})(\d{2})$/.exec(r.name);
      if (!m) continue;
      out.push({ name: r.name, until: new Date(Date.UTC(Number(m[1]), Number(m[2]), 1)) });
    }
    return out;
  }

  /**
   * Drops every partition whose whole range is older than `cutoff`. Each is detached
   * CONCURRENTLY first (ingest keeps writing to the current partition meanwhile), then the
   * detached table is dropped, and its event ids with it (the idempotency check reads the
   * events' own index). Returns the dropped names.
   */
  async dropPartitionsBefore(cutoff: Date): Promise<string[]> {
    const doomed = (await this.partitions()).filter((p) => p.until.getTime() <= cutoff.getTime());
    if (doomed.length === 0) return [];
    return this.db.session(async (s) => {
      // never queue behind a long lock: give up and try again at the next retention run
      await s.exec(`SET lock_timeout = '5s'`);
      const dropped: string[] = [];
      try {
        for (const part of doomed) {
          const ident = `"${part.name}"`; // the name matched ^events_p\d{6}$ in partitions()
          try {
            await s.exec(`ALTER TABLE events DETACH PARTITION ${ident} CONCURRENTLY`);
          } catch (err) {
            if (!/pending detach|FINALIZE/i.test(String((err as Error).message))) throw err;
            await s.exec(`ALTER TABLE events DETACH PARTITION ${ident} FINALIZE`);
          }
          await s.exec(`DROP TABLE ${ident}`);
          dropped.push(part.name);
        }
      } finally {
        await s.exec('RESET lock_timeout').catch(() => {});
      }
      return dropped;
    });
  }

  /**
   * Records a new replay, leased to `owner` for `leaseMs`. Replays run under a lease: only
   * the owner writes their progress, renewing the lease as it does (`recordReplayProgress`).
   */
  async createReplay(r: NewReplay, owner: string, leaseMs: number): Promise<StoredReplay> {
    const rows = await this.db.query<RawReplay>(
      sqlQuery('replay-insert'),
      replayInsert(r, owner, leaseMs, null),
    );
    return toReplay(rows[0]!);
  }

  /**
   * Records a new replay as `createReplay` does, unless `maxRunning` replays are running
   * already, counted in the table (every instance on this database): null then.
   */
  async createReplayWithin(
    r: NewReplay,
    owner: string,
    leaseMs: number,
    maxRunning: number,
  ): Promise<StoredReplay | null> {
    return this.db.transaction(async (tx) => {
      await tx.query(sqlQuery('replay-start-lock'));
      const rows = await tx.query<RawReplay>(
        sqlQuery('replay-insert'),
        replayInsert(r, owner, leaseMs, maxRunning),
      );
      return rows[0] ? toReplay(rows[0]) : null;
    });
  }

  async getReplay(id: string): Promise<StoredReplay | null> {
    const rows = await this.db.query<RawReplay>(sqlQuery('replay-get'), [id]);
    return rows[0] ? toReplay(rows[0]) : null;
  }

  /**
   * Writes the progress of a replay `owner` runs and renews its lease. False: the replay is
   * no longer running under this owner (cancelled through the table, or taken over).
   */
  async recordReplayProgress(
    id: string,
    owner: string,
    progress: ReplayProgress,
    leaseMs: number,
  ): Promise<boolean> {
    const rows = await this.db.query(sqlQuery('replay-progress'), [
      id,
      owner,
      progress.published,
      progress.lastPosition,
      leaseMs,
    ]);
    return rows.length > 0;
  }

  /** Writes the last progress of a replay `owner` stops running, and gives up its lease. */
  async releaseReplay(id: string, owner: string, progress: ReplayProgress): Promise<void> {
    await this.db.query(sqlQuery('replay-release'), [id, owner, progress.published, progress.lastPosition]);
  }

  /** Records the outcome of a replay `owner` ran; one cancelled meanwhile stays cancelled. */
  async finishReplay(
    id: string,
    owner: string,
    progress: ReplayProgress,
    status: Exclude<ReplayStatus, 'running'>,
    error: string | null,
  ): Promise<void> {
    await this.db.query(sqlQuery('replay-finish'), [
      id,
      owner,
      progress.published,
      progress.lastPosition,
      status,
      error,
    ]);
  }

  /** Marks a running replay cancelled; returns the row as it is now (null: unknown id). */
  async cancelReplay(id: string): Promise<StoredReplay | null> {
    const rows = await this.db.query<RawReplay>(sqlQuery('replay-cancel'), [id]);
    return rows[0] ? toReplay(rows[0]) : this.getReplay(id);
  }

  /** Deletes the finished replays that ended before `cutoff`; returns how many. */
  async pruneReplays(cutoff: Date): Promise<number> {
    const rows = await this.db.query<{ n: string }>(sqlQuery('replay-prune'), [cutoff.toISOString()]);
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * Leases to `owner` every running replay that nobody holds (lease given up or expired),
   * except `except`; each such replay goes to exactly one caller.
   */
  async claimReplays(owner: string, leaseMs: number, except: readonly string[]): Promise<StoredReplay[]> {
    const rows = await this.db.query<RawReplay>(sqlQuery('replay-claim'), [owner, leaseMs, except]);
    return rows.map(toReplay);
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

/** A row of select-replay.sql: the message's columns and the envelope's JSON members as text. */
type ReplayRowParts = Omit<ReplayRow, 'body'> & {
  source: string;
  payload: string;
  extensions: string | null;
};

/**
 * The envelope's JSON text, joined from the row: ids are UUIDs and the time is formatted by
 * the query, so they need no escaping; source, payload and extensions are PostgreSQL's own
 * JSON text. Extensions hold only members outside the standard ones (appendParams), so
 * appending them cannot repeat a key.
 */
function toReplayRow(r: ReplayRowParts): ReplayRow {
  let body = `{"event_id":"${r.event_id}","event_type":${JSON.stringify(r.event_type)},"timestamp":"${r.ts}","version":${JSON.stringify(r.version)},"source":${r.source},"correlation_id":${jsonUuid(r.correlation_id)},"causation_id":${jsonUuid(r.causation_id)},"payload":${r.payload}`;
  if (r.extensions !== null && r.extensions !== '{}') body += `,${r.extensions.slice(1, -1)}`;
  // an object literal: rest destructuring copies properties through a slow runtime path
  return {
    position: r.position,
    routing_key: r.routing_key,
    event_id: r.event_id,
    event_type: r.event_type,
    version: r.version,
    source_app: r.source_app,
    correlation_id: r.correlation_id,
    causation_id: r.causation_id,
    traceparent: r.traceparent,
    tracestate: r.tracestate,
    ts: r.ts,
    body: `${body}}`,
  };
}

/** The keyset bound of a page: positions strictly after `$n` in the page's order. */
function afterPosition(page: ListPage, n: number): string {
  return `position ${page.order === 'asc' ? '>' : '<'} $${n}::bigint`;
}

/** `select-events.sql` (the columns of a StoredEvent) reading from a subquery named `events`. */
function selectEventsFrom(subquery: string): string {
  return sqlQuery('select-events').replace(/FROM events\s*$/, `FROM (${subquery}) AS events\n`);
}

/** A nullable UUID column as JSON (its characters need no escaping). */
function jsonUuid(v: string | null): string {
  return v === null ? 'null' : `"${v}"`;
}

function monthKey(d: Date): string {
  return `${d.getUTCFullYear()}-${d.getUTCMonth()}`;
}

/**
 * The two JSON arrays of `candystore_append_batch`, built as text: each envelope is the body
 * as received when the caller has it (`NewEvent.body`), spliced in unchanged.
 */
function appendParams(events: readonly NewEvent[]): [string, string] {
  const envelopes: string[] = new Array(events.length);
  const meta: string[] = new Array(events.length);
  events.forEach((e, i) => {
    const env = e.envelope;
    let extensions: Record<string, unknown> | null = null;
    for (const k of Object.keys(env)) {
      if (STANDARD.has(k)) continue;
      extensions ??= {};
      extensions[k] = env[k];
    }
    envelopes[i] = e.body ?? JSON.stringify(env);
    meta[i] = JSON.stringify({
      routing_key: e.routingKey,
      headers: e.headers,
      extensions,
      replay_id: e.replayId,
    });
  });
  return [`[${envelopes.join(',')}]`, `[${meta.join(',')}]`];
}

interface RawRow {
  position: string;
  event_id: string;
  event_type: string;
  timestamp: Date | string;
  version: string;
  source: Record<string, unknown>;
  correlation_id: string | null;
  causation_id: string | null;
  payload: Record<string, unknown>;
  routing_key: string;
  headers: Record<string, unknown>;
  received_at: Date | string;
  replay_id: string | null;
  extensions?: Record<string, unknown> | null;
  trace_id?: string | null;
}

function toIso(v: Date | string): string {
  return v instanceof Date ? v.toISOString() : new Date(v).toISOString();
}

function toStored(r: RawRow): StoredEventWithExtensions {
  const stored: StoredEventWithExtensions = {
    position: String(r.position),
    event_id: r.event_id,
    event_type: r.event_type,
    timestamp: toIso(r.timestamp),
    version: r.version,
    source: r.source,
    correlation_id: r.correlation_id,
    causation_id: r.causation_id,
    payload: r.payload,
    routing_key: r.routing_key,
    headers: r.headers,
    received_at: toIso(r.received_at),
    replay_id: r.replay_id,
    trace_id: r.trace_id ?? null,
    extensions: r.extensions ?? null,
  };
  const ext = r.extensions;
  if (ext) {
    if (typeof ext.traceparent === 'string') stored.traceparent = ext.traceparent;
    if (typeof ext.tracestate === 'string') stored.tracestate = ext.tracestate;
  }
  return stored;
}

/** The public StoredEvent shape (no extensions). */
export function stripExtensions(e: StoredEventWithExtensions | StoredEvent): StoredEvent {
  const { extensions: _x, ...rest } = e as StoredEventWithExtensions;
  return rest;
}

interface RawReplay {
  id: string;
  filter: Record<string, unknown>;
  target: ReplayTarget;
  rate_per_second: number | null;
  head_position: string;
  total: string;
  published: string;
  last_position: string;
  status: ReplayStatus;
  started_at: Date | string;
  finished_at: Date | string | null;
  error: string | null;
}

/** The parameters of replay-insert.sql. */
function replayInsert(r: NewReplay, owner: string, leaseMs: number, maxRunning: number | null): unknown[] {
  // the end of the set is head_position, a column of its own
  const { maxPosition: _end, ...filter } = r.filter;
  return [
    r.id,
    JSON.stringify(filter),
    JSON.stringify(r.target),
    r.ratePerSecond,
    r.headPosition,
    r.total,
    owner,
    leaseMs,
    maxRunning,
  ];
}

function toReplay(r: RawReplay): StoredReplay {
  // the filter was stored as JSON: its time bounds come back as text
  const { since, until, ...rest } = r.filter as Omit<EventFilter, 'since' | 'until'> & {
    since?: string;
    until?: string;
  };
  const filter: EventFilter = rest;
  if (since !== undefined) filter.since = new Date(since);
  if (until !== undefined) filter.until = new Date(until);
  return {
    id: r.id,
    filter,
    target: r.target,
    ratePerSecond: r.rate_per_second === null ? null : Number(r.rate_per_second),
    headPosition: String(r.head_position),
    total: Number(r.total),
    published: Number(r.published),
    lastPosition: String(r.last_position),
    status: r.status,
    startedAt: new Date(r.started_at),
    finishedAt: r.finished_at === null ? null : new Date(r.finished_at),
    error: r.error,
  };
}
