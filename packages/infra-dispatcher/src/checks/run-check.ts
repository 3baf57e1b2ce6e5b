import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

/**
 * Runs one component check: a shell command in its own process group, so that on a
 * timeout the whole tree (the shell, `bun`, the test runner it started, …) is stopped,
 * first with SIGTERM and, after a grace period, with SIGKILL.
 */

export type CheckStatus = 'passed' | 'failed' | 'timeout' | 'error';

export interface CheckResult {
  readonly component: string;
  readonly status: CheckStatus;
  readonly command: string;
  readonly cwd: string;
  /** Exit code of the shell; null when it was killed by a signal or never started. */
  readonly exit_code: number | null;
  readonly signal: string | null;
  readonly duration_ms: number;
  readonly timed_out: boolean;
  /** The last `tailBytes` of stdout and stderr, interleaved as they arrived. */
  readonly output_tail: string;
  /** Why the check could not run (status `error`) or how it ended when killed. */
  readonly reason?: string;
}

export interface RunCheckOptions {
  readonly component: string;
  readonly command: string;
  readonly cwd: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  /** Time between SIGTERM and SIGKILL. Default 5 s. */
  readonly killGraceMs?: number;
  /** Bytes of output kept. Default 8 KiB. */
  readonly tailBytes?: number;
  /** Called with the process group id once the command started (tests and logs). */
  readonly onStart?: (pgid: number) => void;
  /** Stops the check as a timeout does (the dispatcher is shutting down); the result is an `error`. */
  readonly signal?: AbortSignal;
}

export const DEFAULT_TAIL_BYTES = 8 * 1024;

export function runCheck(opts: RunCheckOptions): Promise<CheckResult> {
  const started = performance.now();
  const base = { component: opts.component, command: opts.command, cwd: opts.cwd };
  const cwdProblem = checkCwd(opts.cwd);
  if (cwdProblem) {
    return Promise.resolve({
      ...base,
      status: 'error',
      exit_code: null,
      signal: null,
      duration_ms: 0,
      timed_out: false,
      output_tail: '',
      reason: cwdProblem,
    });
  }

  const tail = new OutputTail(opts.tailBytes ?? DEFAULT_TAIL_BYTES);
  const grace = opts.killGraceMs ?? 5_000;

  return new Promise<CheckResult>((resolvePromise) => {
    const child = spawn(opts.command, {
      shell: true,
      cwd: opts.cwd,
      // A new process group: `kill(-pgid)` then reaches every process the command started.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
    });
    let timedOut = false;
    let killStage: 'none' | 'term' | 'kill' = 'none';
    let settled = false;
    let escalation: NodeJS.Timeout | undefined;
    let forceFinish: NodeJS.Timeout | undefined;

    const endStatus = (): CheckStatus => (timedOut ? 'timeout' : 'error');
    const finish = (status: CheckStatus, code: number | null, signal: string | null, reason?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(escalation);
      clearTimeout(forceFinish);
      opts.signal?.removeEventListener('abort', onAbort);
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolvePromise({
        ...base,
        status,
        exit_code: code,
        signal,
        duration_ms: Math.round(performance.now() - started),
        timed_out: timedOut,
        output_tail: tail.text(),
        ...(reason === undefined ? {} : { reason }),
      });
    };

    child.stdout?.on('data', (b: Buffer) => tail.push(b));
    child.stderr?.on('data', (b: Buffer) => tail.push(b));
    if (child.pid !== undefined) opts.onStart?.(child.pid);

    const killGroup = (signal: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        // ESRCH: the group is already gone.
      }
    };

    let aborted = false;
    const stop = (): void => {
      if (killStage !== 'none') return;
      killStage = 'term';
      killGroup('SIGTERM');
      escalation = setTimeout(() => {
        killStage = 'kill';
        killGroup('SIGKILL');
        // A process that left the group and kept our pipes open must not hang the check.
        forceFinish = setTimeout(() => finish(endStatus(), null, 'SIGKILL', timeoutReason()), 2_000);
        forceFinish.unref();
      }, grace);
      escalation.unref();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, opts.timeoutMs);
    timer.unref();
    const onAbort = (): void => {
      aborted = true;
      stop();
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });

    const timeoutReason = () =>
      `${aborted && !timedOut ? 'stopped because the dispatcher is shutting down' : `timed out after ${opts.timeoutMs} ms`}; process group stopped with ${killStage === 'kill' ? 'SIGKILL' : 'SIGTERM'}`;

    child.on('error', (err) => {
      finish('error', null, null, `could not start the command: ${err.message}`);
    });
    // 'close' waits for the pipes, so output written just before exit is kept.
    child.on('close', (code, signal) => {
      if (killStage !== 'none') {
        // The shell may be gone while members of its group are still stopping; make sure.
        killGroup('SIGKILL');
        finish(endStatus(), code, signal, timeoutReason());
      } else finish(code === 0 ? 'passed' : 'failed', code, signal);
    });
  });
}

function checkCwd(cwd: string): string | undefined {
  if (!existsSync(cwd)) return `working directory '${cwd}' does not exist`;
  try {
    if (!statSync(cwd).isDirectory()) return `working directory '${cwd}' is not a directory`;
  } catch {
    return `working directory '${cwd}' cannot be read`;
  }
  return undefined;
}

/** Keeps the last `limit` bytes of a stream without holding all of it. */
class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}

  push(b: Buffer): void {
    this.chunks.push(b);
    this.size += b.length;
    while (this.size - (this.chunks[0]?.length ?? 0) >= this.limit && this.chunks.length > 1) {
      this.size -= this.chunks.shift()!.length;
    }
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    const cut = all.subarray(Math.max(0, all.length - this.limit));
    // Cutting may split a UTF-8 sequence; drop continuation bytes at the start.
    let start = 0;
    while (start < cut.length && start < 4 && ((cut[start] ?? 0) & 0xc0) === 0x80) start++;
    return cut.subarray(start).toString('utf8');
  }
}
