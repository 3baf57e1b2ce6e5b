import type { Database } from './database.js';
import { EventStore, type EventStoreOptions } from './event-store.js';
import { migrate } from './migrations.js';

export interface StoreOptions extends EventStoreOptions {
  /** PostgreSQL URL. Without it, embedded PGlite is used. */
  databaseUrl?: string;
  /** PGlite data directory; undefined with no databaseUrl keeps the database in memory. */
  dataDir?: string;
  /** Pool size for PostgreSQL. */
  poolSize?: number;
  onDatabaseError?: (err: Error) => void;
}

async function openDatabase(options: StoreOptions): Promise<Database> {
  // Adapters are loaded on demand so that an embedded run never loads `pg` and vice versa.
  if (options.databaseUrl) {
    const { openPostgres } = await import('./adapters/postgres.js');
    return openPostgres({
      url: options.databaseUrl,
      ...(options.poolSize ? { max: options.poolSize } : {}),
      ...(options.onDatabaseError ? { onError: options.onDatabaseError } : {}),
    });
  }
  const { openPglite } = await import('./adapters/pglite.js');
  return openPglite(options.dataDir ? { dataDir: options.dataDir } : {});
}

/** Opens the configured database, applies migrations (or refuses an unknown schema), and
 * makes sure this month's partitions exist. */
export async function openStore(options: StoreOptions): Promise<EventStore> {
  const db = await openDatabase(options);
  try {
    await migrate(db);
    const store = new EventStore(
      db,
      options.payloadPlanMinRows === undefined ? {} : { payloadPlanMinRows: options.payloadPlanMinRows },
    );
    await store.ensurePartitions();
    return store;
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
}
