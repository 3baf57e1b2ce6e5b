import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { AppError } from '@33god/core';

/*
 * One `npm start` per data directory: two would open one PGlite database twice and corrupt it.
 *
 * Hand-written rather than `proper-lockfile`, the npm library for this: it calls a lock stale
 * when the mtime its owner refreshes on a timer gets old, so an owner whose event loop stalls
 * (a long PGlite start, a laptop asleep) past the limit loses the directory to the next start,
 * the very corruption this prevents; and it records no owner, so a refusal could not say which
 * process holds the directory. Here the owner is a pid and a host, and a lock is stale only when
 * that pid is gone on this host.
 */

export const LOCK_FILE = 'stack.lock';

export interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly since: string;
  /** Tells this lock from any other with the same pid (a restart can reuse one). */
  readonly id: string;
}

export interface DataDirLock {
  readonly path: string;
  readonly owner: LockOwner;
  /** Removes the lock file if it is still this lock's. */
  release(): Promise<void>;
}

/** The locks this process holds: a lock carrying this process's pid and another id is a leftover. */
const heldHere = new Set<string>();

/**
 * Makes this process the one owner of `dir` (created if missing), or throws CONFLICT naming the
 * owner. A lock whose owner is gone is taken over; of two starts that find it so, one wins.
 */
export async function lockDataDir(dir: string): Promise<DataDirLock> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  const me = newOwner();
  // Known before the lock file appears, so that another lock call in this process sees it alive.
  heldHere.add(me.id);
  try {
    await acquire(path, me);
  } catch (err) {
    heldHere.delete(me.id);
    throw err;
  }
  // An exit that skips `release` (a second Ctrl-C) need not leave the lock for a takeover.
  const onExit = () => {
    if (readOwnerSync(path) === me.id) unlinkSync(path);
  };
  process.on('exit', onExit);
  return {
    path,
    owner: me,
    async release() {
      process.off('exit', onExit);
      heldHere.delete(me.id);
      if ((await readOwner(path).catch(() => undefined))?.id === me.id) await unlink(path).catch(() => {});
    },
  };
}

export function newOwner(): LockOwner {
  return {
    pid: process.pid,
    host: hostname(),
    since: new Date().toISOString(),
    id: randomBytes(8).toString('hex'),
  };
}

async function acquire(path: string, me: LockOwner): Promise<void> {
  for (;;) {
    if (await create(path, me)) return;
    const owner = await readOwner(path);
    // undefined: released since; otherwise `takeOver` lost to a start that now owns it
    if (owner !== undefined && isAlive(owner)) throw inUse(dirname(path), owner);
    if (owner !== undefined && (await takeOver(path, owner, me))) return;
  }
}

/**
 * Replaces the lock `stale`, whose owner is gone, with `me`; false when another start got there
 * first, CONFLICT when it is still at it. A rename cannot check what it replaces, so the right
 * to replace `stale` is the file `<path>.<stale.id>`, which only one start can create; the winner
 * then checks that `path` still holds `stale` (a slower start can come after the takeover is
 * done). A start killed while holding that right leaves a stale file, taken over the same way.
 */
export async function takeOver(path: string, stale: LockOwner, me: LockOwner): Promise<boolean> {
  const claim = `${path}.${stale.id}`;
  if (!(await create(claim, me))) {
    const taker = await readOwner(claim);
    if (taker === undefined) return false;
    if (isAlive(taker)) throw inUse(dirname(path), taker);
    if (!(await takeOver(claim, taker, me))) return false;
  }
  try {
    if ((await readOwner(path))?.id !== stale.id) return false;
    await writeThen(path, me, (tmp) => rename(tmp, path));
    return true;
  } finally {
    await unlink(claim).catch(() => {});
  }
}

/** Creates `path` holding `me` unless it exists. Linked from a whole file: never seen half written. */
async function create(path: string, me: LockOwner): Promise<boolean> {
  try {
    await writeThen(path, me, (tmp) => link(tmp, path));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

async function writeThen(path: string, me: LockOwner, put: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, `${JSON.stringify(me)}\n`, { flag: 'wx' });
  try {
    await put(tmp);
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

async function readOwner(path: string): Promise<LockOwner | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return parseOwner(path, text);
}

function readOwnerSync(path: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { id?: string }).id;
  } catch {
    return undefined;
  }
}

function parseOwner(path: string, text: string): LockOwner {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {}
  const o = value as Partial<LockOwner> | undefined;
  if (
    typeof o?.pid !== 'number' ||
    typeof o.host !== 'string' ||
    typeof o.since !== 'string' ||
    typeof o.id !== 'string'
  ) {
    throw new AppError(
      'CONFLICT',
      `the lock file ${path} is not one this program wrote; if no \`npm start\` uses ${dirname(path)}, remove it`,
    );
  }
  return { pid: o.pid, host: o.host, since: o.since, id: o.id };
}

/** Whether the owner may still run. On another host nobody can tell from here: yes. */
function isAlive(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return true;
  if (owner.pid === process.pid) return heldHere.has(owner.id);
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed owner stays a zombie until its parent reaps it, and signal 0 still reaches it.
  return !isZombie(owner.pid);
}

/** Linux: the process has exited and waits to be reaped (state Z or X in /proc/<pid>/stat). */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name is in parentheses and may itself hold spaces or parentheses
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return false;
  }
}

function inUse(dir: string, owner: LockOwner): AppError {
  const elsewhere = owner.host === hostname() ? '' : `; if it is gone, remove ${join(dir, LOCK_FILE)}`;
  return new AppError(
    'CONFLICT',
    `data directory ${dir} is in use by another \`npm start\` (pid ${owner.pid} on host ${owner.host}, since ${owner.since}): stop it, or set STACK_DATA_DIR to another directory${elsewhere}`,
  );
}
