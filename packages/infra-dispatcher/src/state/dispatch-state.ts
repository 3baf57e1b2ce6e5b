import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AppError } from '@33god/core';
import { removeStaleTempFiles, writeFileAtomic } from './atomic-file.js';

/**
 * Which tickets were dispatched, by issue and fingerprint. A dispatch counts as done only
 * after OpenClaw accepted it (the original wrote it before sending, so a failed send was
 * never retried). Before a request goes out, a `sending` record notes it: if the process
 * dies before the answer is recorded, the next one knows that OpenClaw may have the
 * ticket already, sends it again (nothing is lost) and says so. The file is replaced
 * atomically on every change, so a crash leaves the previous complete version, and it is
 * read back at start.
 */

export interface DispatchRecord {
  readonly fingerprint: string;
  /** When OpenClaw accepted it; for a `sending` record, when the sending started. */
  readonly dispatched_at: string;
  readonly ticket: string;
  /** The bus event that caused the dispatch. */
  readonly event_id?: string;
  readonly session_key: string;
  /** OpenClaw's answer, repeated in a completed event published late. */
  readonly http_status?: number;
  /** Whether `infra.dispatch.completed` was published for it (redeliveries finish the job if not). */
  readonly announced: boolean;
  /** A request was (or was about to be) sent and its outcome is not known yet. */
  readonly sending?: true;
  /** OpenClaw may have received this ticket more than once. */
  readonly possible_duplicate?: true;
}

interface StateFile {
  version: 1;
  issues: Record<string, DispatchRecord[]>;
}

/** Records kept per issue: enough to recognise a ticket going back and forth, bounded for long-lived issues. */
export const MAX_RECORDS_PER_ISSUE = 20;

export class DispatchStateStore {
  private writeChain: Promise<void> = Promise.resolve();
  private dirty = false;
  private lastWriteError: Error | undefined;

  /** Keyed by issue id, which comes from the ticket: a Map, so `__proto__` is an id like any other. */
  private readonly issues: Map<string, DispatchRecord[]>;

  private constructor(
    readonly path: string,
    data: StateFile,
  ) {
    this.issues = new Map(Object.entries(data.issues));
  }

  /** Loads the file (missing → empty). An unreadable or malformed file is an error, never silently reset. */
  static async open(path: string): Promise<DispatchStateStore> {
    await removeStaleTempFiles(path);
    let raw: string | undefined;
    try {
      raw = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new AppError('DISPATCH_STATE_INVALID', `cannot read '${path}'`, { cause: err });
      }
    }
    if (raw === undefined) return new DispatchStateStore(path, { version: 1, issues: {} });
    return new DispatchStateStore(path, parseStateFile(raw, path));
  }

  find(issueId: string, fingerprint: string): DispatchRecord | undefined {
    return this.issues.get(issueId)?.find((r) => r.fingerprint === fingerprint);
  }

  records(issueId: string): readonly DispatchRecord[] {
    return this.issues.get(issueId) ?? [];
  }

  get issueCount(): number {
    return this.issues.size;
  }

  /** True while a change is only in memory because the last write failed. */
  get unsaved(): boolean {
    return this.dirty;
  }

  get lastError(): Error | undefined {
    return this.lastWriteError;
  }

  /**
   * Adds a record and writes the file. The record stays in memory even when the write
   * fails (so this process still never sends the ticket twice); the error is returned
   * to the caller and the next successful write persists it.
   */
  async record(issueId: string, rec: DispatchRecord): Promise<void> {
    const list = (this.issues.get(issueId) ?? []).filter((r) => r.fingerprint !== rec.fingerprint);
    list.push(rec);
    this.issues.set(issueId, list.slice(-MAX_RECORDS_PER_ISSUE));
    await this.save();
  }

  /**
   * Notes a request about to go out. It is replaced by `record` once OpenClaw accepted, and
   * removed by `clearSending` when no attempt can have reached OpenClaw.
   */
  async markSending(
    issueId: string,
    rec: Pick<DispatchRecord, 'fingerprint' | 'dispatched_at' | 'ticket' | 'event_id' | 'session_key'>,
  ): Promise<void> {
    await this.record(issueId, { ...rec, announced: false, sending: true });
  }

  async clearSending(issueId: string, fingerprint: string): Promise<void> {
    const list = this.issues.get(issueId);
    if (!list?.some((r) => r.fingerprint === fingerprint && r.sending)) return;
    const rest = list.filter((r) => r.fingerprint !== fingerprint);
    if (rest.length > 0) this.issues.set(issueId, rest);
    else this.issues.delete(issueId);
    await this.save();
  }

  async markAnnounced(issueId: string, fingerprint: string): Promise<void> {
    const list = this.issues.get(issueId);
    const i = list?.findIndex((r) => r.fingerprint === fingerprint) ?? -1;
    if (!list || i < 0 || list[i]!.announced) return;
    list[i] = { ...list[i]!, announced: true };
    await this.save();
  }

  /** Whether the next write can succeed: the directory exists (or can be made) and is writable. */
  async writable(): Promise<boolean> {
    let dir = dirname(this.path);
    for (;;) {
      try {
        if (!(await stat(dir)).isDirectory()) return false;
        await access(dir, constants.W_OK);
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return false;
        const parent = dirname(dir);
        if (parent === dir) return false;
        dir = parent;
      }
    }
  }

  /** Waits for pending writes. */
  async flush(): Promise<void> {
    await this.writeChain;
    if (this.dirty) await this.save();
  }

  private save(): Promise<void> {
    // Writes are serialised and each writes the whole current state, so the last one wins with everything.
    const next = this.writeChain.then(async () => {
      this.dirty = true;
      try {
        // fromEntries defines each id as an own member, so `__proto__` is written as a key.
        const file: StateFile = { version: 1, issues: Object.fromEntries(this.issues) };
        await writeFileAtomic(this.path, `${JSON.stringify(file, null, 2)}\n`);
        this.dirty = false;
        this.lastWriteError = undefined;
      } catch (err) {
        this.lastWriteError = err as Error;
        throw new AppError('DISPATCH_STATE_INVALID', `cannot write '${this.path}'`, { cause: err });
      }
    });
    this.writeChain = next.catch(() => {});
    return next;
  }
}

export function parseStateFile(raw: string, path = 'state file'): StateFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (cause) {
    throw new AppError('DISPATCH_STATE_INVALID', `'${path}' is not valid JSON`, { cause });
  }
  if (!isRecord(parsed) || parsed.version !== 1 || !isRecord(parsed.issues)) {
    throw new AppError('DISPATCH_STATE_INVALID', `'${path}' is not a version 1 dispatch state file`);
  }
  const issues = new Map<string, DispatchRecord[]>();
  for (const [issueId, list] of Object.entries(parsed.issues)) {
    if (!Array.isArray(list) || !list.every((r) => isRecord(r) && typeof r.fingerprint === 'string')) {
      throw new AppError(
        'DISPATCH_STATE_INVALID',
        `'${path}': the records of issue '${issueId}' are malformed`,
      );
    }
    issues.set(issueId, list as DispatchRecord[]);
  }
  // JSON.parse made `__proto__` an own member; fromEntries keeps it one (assignment would not).
  return { version: 1, issues: Object.fromEntries(issues) };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
