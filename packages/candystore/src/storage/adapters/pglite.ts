import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '@33god/core';
import { PGlite } from '@electric-sql/pglite';
import type { Database, Queryable } from '../database.js';

const INT8 = 20;

/**
 * Memory settings for the embedded database. PGlite's WebAssembly memory only grows, so
 * what PostgreSQL allocates stays in the process: with the defaults (shared_buffers 160 MB,
 * maintenance_work_mem 64 MB) an embedded store with 50,000 events held 285 MB above the
 * process; with these, 148 MB. The data files are still cached by the operating system.
 */
const EMBEDDED_SETTINGS = [
  'shared_buffers = 16MB',
  'temp_buffers = 2MB',
  'maintenance_work_mem = 16MB',
  'work_mem = 4MB',
];

/**
 * Creates a new data directory (initdb) in a short-lived child process. initdb's WebAssembly
 * instance peaks at about 600 MB, and memory a WebAssembly instance took is never given back
 * to the operating system while the process lives: done in this process, the first start
 * of an embedded store kept ~850 MB for good, against ~260 MB for every later start.
 */
function initDataDir(dataDir: string): Promise<void> {
  const pglite = import.meta.resolve('@electric-sql/pglite');
  const script = `const { PGlite } = await import(${JSON.stringify(pglite)});
const db = new PGlite({ dataDir: process.argv[1] });
await db.waitReady;
await db.close();`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, dataDir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-2000);
    });
    child.on('error', (err) =>
      reject(new AppError('DATABASE_UNAVAILABLE', `could not create the embedded database: ${err.message}`)),
    );
    child.on('exit', (code) => {
      if (code === 0 && existsSync(join(dataDir, 'PG_VERSION'))) return resolve();
      const last = stderr.trim().split('\n').filter(Boolean).at(-1) ?? `exit code ${code}`;
      reject(
        new AppError('DATABASE_UNAVAILABLE', `could not create the embedded database in ${dataDir}: ${last}`),
      );
    });
  });
}

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
  if (options.dataDir) {
    mkdirSync(options.dataDir, { recursive: true });
    if (!existsSync(join(options.dataDir, 'PG_VERSION'))) await initDataDir(options.dataDir);
  }
  const db = new PGlite({
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    postgresqlconf: EMBEDDED_SETTINGS,
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
