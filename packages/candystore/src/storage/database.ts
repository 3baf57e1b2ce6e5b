/**
 * The only thing the store knows about a database: parameterized queries, a transaction on
 * one connection, and plain multi-statement scripts. Two adapters implement it
 * (`adapters/postgres.ts` over `pg`, `adapters/pglite.ts` over embedded PGlite); the same
 * `.sql` files run on both.
 *
 * Type conventions both adapters guarantee: `bigint` columns arrive as decimal strings,
 * `timestamptz` as `Date`, `jsonb` parsed, `uuid` as lowercase strings. Parameters are
 * passed through untouched: callers send JSON as strings (cast with `::jsonb`).
 */
export type Row = Record<string, unknown>;

export interface Queryable {
  query<R = Row>(text: string, params?: readonly unknown[]): Promise<R[]>;
}

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Runs `fn` inside BEGIN … COMMIT on one connection; ROLLBACK when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Runs `fn` on one dedicated connection (for session-level advisory locks). */
  session<T>(fn: (s: Queryable & { exec(sql: string): Promise<void> }) => Promise<T>): Promise<T>;
  /** Runs a script of several statements without parameters. */
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * SQLSTATEs about the server's state rather than the rows sent: connection exceptions (08),
 * insufficient resources (53: disk full, out of memory, too many connections), operator
 * intervention (57: shutdown, cancel), system errors (58: I/O), a read-only server (25006,
 * after a failover), serialization failures and deadlocks (40001, 40P01), a lock not
 * available (55P03).
 */
const TRANSIENT_CLASSES = new Set(['08', '53', '57', '58']);
const TRANSIENT_CODES = new Set(['25006', '40001', '40P01', '55P03']);
const TRANSIENT_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
]);

/**
 * Whether a database error is about the connection or the server's state (retry later) rather
 * than about the data sent (retrying the same rows would fail forever).
 */
export function isTransientDbError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (TRANSIENT_CODES.has(code) || TRANSIENT_NODE_CODES.has(code)) return true;
    if (isSqlState(code) && TRANSIENT_CLASSES.has(code.slice(0, 2))) return true;
  }
  const msg = err.message;
  return (
    /Connection terminated|connection timeout|Client has encountered a connection error|not queryable|the database system is (starting up|shutting down|in recovery mode)|terminating connection/i.test(
      msg,
    ) ||
    (err.cause instanceof Error && isTransientDbError(err.cause))
  );
}

/**
 * SQLSTATE classes that are about the rows of one append: data exceptions (22: invalid
 * text, numbers out of range, bad JSON), integrity violations (23) and program limits (54:
 * a row or a JSON value too large for an index or a batch). Retrying the same rows fails
 * the same way; a smaller batch may not.
 */
const PER_EVENT_CLASSES = new Set(['22', '23', '54']);

/** What to do with a batch whose append failed. */
export type AppendFailure =
  /** The rows are at fault: split the batch until the event is alone, then dead-letter it. */
  | 'isolate'
  /** The database is: keep the batch unacked and try again later. */
  | 'retry';

/**
 * Decides by the SQLSTATE alone. Both adapters report one for everything the server says
 * (PGlite's errors carry `code` like `pg`'s). Errors without one (PGlite closed or
 * aborted, a lost socket, anything unforeseen) and every other class (undefined objects after
 * a bad migration, authentication, internal errors) are retried: an error that cannot be
 * tied to one event is not grounds to dead-letter events, and if it never clears the batch
 * stays unacked and the store reports it, a delay an operator can see, never a loss.
 */
export function classifyAppendError(err: unknown): AppendFailure {
  const code = sqlState(err);
  return code !== null && PER_EVENT_CLASSES.has(code.slice(0, 2)) ? 'isolate' : 'retry';
}

/** The SQLSTATE of an error or of its causes, or null. */
export function sqlState(err: unknown): string | null {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && isSqlState(code)) return code;
  }
  return null;
}

function isSqlState(code: string): boolean {
  return /^[0-9A-Z]{5}$/.test(code);
}
