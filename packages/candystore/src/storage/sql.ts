import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The `.sql` files live in `src/sql/` and are read at run time from there, both when
 * running from source and from `dist/` (this file sits two levels below the package root
 * in either case), so the build never has to copy them.
 */
const SQL_DIR = fileURLToPath(new URL('../../src/sql/', import.meta.url));

const cache = new Map<string, string>();

/** The text of `src/sql/queries/<name>.sql`. */
export function sqlQuery(name: string): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(`${SQL_DIR}queries/${name}.sql`, 'utf8');
    cache.set(name, text);
  }
  return text;
}

export interface MigrationFile {
  version: number;
  name: string;
  sql: string;
}

/** Every migration, ascending; file names are `NNNN_name.sql`. */
export function migrationFiles(dir = `${SQL_DIR}migrations/`): MigrationFile[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => ({
      version: Number(f.slice(0, 4)),
      name: f.slice(5, -4),
      sql: readFileSync(`${dir}${f}`, 'utf8'),
    }));
}
