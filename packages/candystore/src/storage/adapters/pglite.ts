import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import type { Database, Queryable } from '../database.js';

const INT8 = 20;

export interface PgliteOptions {
  /** Data directory; undefined keeps the database in memory (tests). */
  dataDir?: string;
}

/**
 * Embedded PostgreSQL. One connection: PGlite serializes queries itself, and a running
 * transaction holds that connection, so other queries wait for it (the same isolation a
 * single-connection pool would give).
 */
export async function openPglite(options: PgliteOptions = {}): Promise<Database> {
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const db = new PGlite({
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    // bigint positions as strings, as `pg` returns them, so no precision is lost above 2^53
    parsers: { [INT8]: (v: string) => v },
  });
  await db.waitReady;
  const q: Queryable = {
    async query<R>(text: string, params?: readonly unknown[]): Promise<R[]> {
      const res = await db.query<R>(text, params as unknown[] | undefined);
      return res.rows;
    },
  };
  return {
    kind: 'pglite',
    ...q,
    transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      return db.transaction((tx) =>
        fn({
          async query<R>(text: string, params?: readonly unknown[]): Promise<R[]> {
            const res = await tx.query<R>(text, params as unknown[] | undefined);
            return res.rows;
          },
        }),
      );
    },
    session(fn) {
      return fn({
        ...q,
        async exec(sql: string) {
          await db.exec(sql);
        },
      });
    },
    async exec(sql: string) {
      await db.exec(sql);
    },
    async close() {
      if (!db.closed) await db.close();
    },
  };
}
