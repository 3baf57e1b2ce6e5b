import { AppError } from '@33god/core';
import type { Database } from './database.js';
import { type MigrationFile, migrationFiles } from './sql.js';

/** Advisory lock key for migrations: two instances starting at once apply them once. */
const MIGRATION_LOCK = 0x33_60_d5_01;

export interface MigrationResult {
  /** Schema version after the run. */
  version: number;
  applied: number[];
}

/**
 * Brings the schema up to date under a session advisory lock, one transaction per
 * migration. Refuses (MIGRATION_UNKNOWN_VERSION) a database that was migrated by a newer
 * build, or whose history differs from this build's files.
 */
export async function migrate(
  db: Database,
  files: MigrationFile[] = migrationFiles(),
): Promise<MigrationResult> {
  return db.session(async (s) => {
    await s.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await s.exec(`CREATE TABLE IF NOT EXISTS candystore_schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
      const done = await s.query<{ version: number; name: string }>(
        'SELECT version, name FROM candystore_schema_migrations ORDER BY version',
      );
      const known = new Map(files.map((f) => [f.version, f]));
      const latest = files.at(-1)?.version ?? 0;
      for (const row of done) {
        const file = known.get(row.version);
        if (!file || file.name !== row.name) {
          throw new AppError(
            'MIGRATION_UNKNOWN_VERSION',
            `the database has schema migration ${row.version} (${row.name}) but this build knows versions up to ${latest}; upgrade candystore or use another database`,
            { extra: { database_version: row.version, known_version: latest } },
          );
        }
      }
      const have = new Set(done.map((r) => r.version));
      const applied: number[] = [];
      for (const file of files) {
        if (have.has(file.version)) continue;
        await s
          .exec(
            `BEGIN;\n${file.sql}\n;INSERT INTO candystore_schema_migrations (version, name) VALUES (${file.version}, '${file.name.replaceAll("'", "''")}');\nCOMMIT;`,
          )
          .catch(async (err) => {
            await s.exec('ROLLBACK').catch(() => {});
            throw err;
          });
        applied.push(file.version);
      }
      return { version: Math.max(latest, ...done.map((r) => r.version)), applied };
    } finally {
      await s.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    }
  });
}
