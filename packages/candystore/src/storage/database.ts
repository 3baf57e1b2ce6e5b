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

const TRANSIENT_CODES = new Set(['57P01', '57P02', '57P03', '53300', '40001', '40P01', '55P03']);
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
    if (code.startsWith('08')) return true;
  }
  const msg = err.message;
  return (
    /Connection terminated|connection timeout|Client has encountered a connection error|not queryable|the database system is (starting up|shutting down|in recovery mode)|terminating connection/i.test(
      msg,
    ) ||
    (err.cause instanceof Error && isTransientDbError(err.cause))
  );
}
