import { closeSync, fsyncSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { RootDatabase } from 'lmdb';

/**
 * When the journal is rewritten at open. LMDB reuses freed pages but never gives them back to
 * the file system, so a drained backlog would keep the file at its high-water size forever.
 */
export interface JournalCompactionOptions {
  /** A journal file smaller than this (bytes) is left as it is. */
  readonly minFileBytes: number;
  /** Rewrite only when the pages in use are less than this share of the file (0..1). */
  readonly maxLiveRatio: number;
}

export const DEFAULT_JOURNAL_COMPACTION: Readonly<JournalCompactionOptions> = {
  minFileBytes: 64 * 1024 * 1024,
  maxLiveRatio: 0.25,
};

/** What compaction at open did, for the caller to log (the library logs nothing). */
export interface JournalCompaction {
  /** The journal file's size in bytes before and after; equal when compaction failed. */
  readonly before: number;
  readonly after: number;
  readonly durationMs: number;
  /** Why the journal was left as it was; it is still complete and in use. */
  readonly error?: Error;
}

/** Where the compacted copy is written: beside the journal, so that `rename` is atomic. */
export function compactCopyPath(file: string): string {
  return `${file}.compact`;
}

/**
 * A copy left by a crash is incomplete, or complete but never swapped in (the journal beside
 * it is then the one in use): either way it is not the journal, and LMDB refuses to copy onto
 * an existing file.
 */
export function discardStaleCopy(file: string): void {
  const copy = compactCopyPath(file);
  if (!exists(copy)) return;
  rmSync(copy, { force: true });
  fsyncDirectory(dirname(file));
}

/**
 * Whether the journal is large and mostly free. Pages in use are those of the main database
 * and the named ones (`tables`), plus the two meta pages; the free list's own pages are not
 * kept by a copy. A compacting copy keeps the pages in use as they are, half-empty or not, so
 * the count predicts its size.
 */
export function worthCompacting(
  file: string,
  root: RootDatabase,
  tables: readonly string[],
  options: JournalCompactionOptions,
): boolean {
  const size = statSync(file).size;
  if (size < options.minFileBytes) return false;
  const stats = [root, ...tables.map((name) => root.openDB({ name }))].map(
    (db) => db.getStats() as LmdbStats,
  );
  const pageSize = stats[0]?.pageSize ?? 4096;
  let pages = 2;
  for (const s of stats) pages += s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages;
  return pages * pageSize < size * options.maxLiveRatio;
}

/**
 * Writes a compacted copy of the open environment beside `file` and flushes it to disk. On
 * failure the copy is removed and the error thrown; the journal itself is only read.
 */
export async function writeCompactCopy(root: RootDatabase, file: string): Promise<void> {
  const copy = compactCopyPath(file);
  try {
    await root.backup(copy, true);
    // LMDB writes the copy with O_DIRECT but does not fsync it: its size and the last blocks
    // must be on disk before a rename can make it the journal.
    fsyncFile(copy);
  } catch (err) {
    rmSync(copy, { force: true });
    throw err;
  }
}

/**
 * Makes the flushed copy the journal, with the environment closed. `rename` replaces the name
 * atomically, so the name always points at a complete file, the old or the new; the directory
 * is then flushed so that the swap itself survives a power loss. LMDB's lock file needs no
 * care: the first process to open the environment alone resets it.
 */
export function swapInCompactCopy(file: string): void {
  const copy = compactCopyPath(file);
  try {
    renameSync(copy, file);
  } catch (err) {
    rmSync(copy, { force: true });
    throw err;
  }
  fsyncDirectory(dirname(file));
}

interface LmdbStats {
  pageSize: number;
  treeBranchPageCount: number;
  treeLeafPageCount: number;
  overflowPages: number;
}

function exists(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false }) !== undefined;
}

function fsyncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncDirectory(dir: string): void {
  // Windows cannot open a directory for fsync; its renames are journaled by NTFS.
  if (process.platform === 'win32') return;
  fsyncFile(dir);
}
