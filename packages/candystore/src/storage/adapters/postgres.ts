import pg from 'pg';
import type { Database, Queryable } from '../database.js';

export interface PostgresOptions {
  url: string;
  /** Pool size. Default 10. */
  max?: number;
  /** Fail a connection attempt after this long, so an outage surfaces as an error. Default 5000. */
  connectionTimeoutMs?: number;
  /** Called with errors of idle clients (a server restart); they must never crash the process. */
  onError?: (err: Error) => void;
}

export function openPostgres(options: PostgresOptions): Database {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5000,
    idleTimeoutMillis: 30_000,
    application_name: 'candystore',
  });
  pool.on('error', (err) => options.onError?.(err));

  const wrap = (c: pg.PoolClient | pg.Pool): Queryable => ({
    async query<R>(text: string, params?: readonly unknown[]): Promise<R[]> {
      const res = await c.query(text, params as unknown[] | undefined);
      return res.rows as R[];
    },
  });

  async function withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    // A checked-out client whose server goes away between two queries emits 'error'; the
    // next query fails anyway and is handled there, so this must not crash the process.
    let broken: Error | null = null;
    const onError = (err: Error) => {
      broken = err;
      options.onError?.(err);
    };
    client.on('error', onError);
    try {
      const out = await fn(client);
      client.off('error', onError);
      client.release(broken ?? undefined);
      return out;
    } catch (err) {
      client.off('error', onError);
      // A connection that failed mid-way may be broken: destroy it rather than reuse it.
      client.release(err instanceof Error ? err : true);
      throw err;
    }
  }

  return {
    kind: 'postgres',
    ...wrap(pool),
    transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      return withClient(async (client) => {
        await client.query('BEGIN');
        try {
          const out = await fn(wrap(client));
          await client.query('COMMIT');
          return out;
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          throw err;
        }
      });
    },
    session(fn) {
      return withClient((client) =>
        fn({
          ...wrap(client),
          async exec(sql: string) {
            await client.query(sql);
          },
        }),
      );
    },
    async exec(sql: string) {
      await pool.query(sql);
    },
    async close() {
      await pool.end();
    },
  };
}
