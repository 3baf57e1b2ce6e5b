import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { type CheckSecret, checkEnvironment, dispatcherSecrets, redactSecrets } from './environment.js';

/**
 * Runs one component check: a shell command in its own process group, so that on a
 * timeout the whole tree (the shell, `bun`, the test runner it started, …) is stopped,
 * first with SIGTERM and, after a grace period, with SIGKILL. The command sees only the
 * variables `environment.ts` allows, and the dispatcher's secrets are redacted from its
 * output.
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
  /**
   * The last `tailBytes` of stdout and stderr, interleaved as they arrived, with the
   * dispatcher's secrets replaced by `[redacted NAME]`.
   */
  readonly output_tail: string;
  /** Why the check could not run (status `error`) or how it ended when killed. */
  readonly reason?: string;
}

export interface RunCheckOptions {
  readonly component: string;
  readonly command: string;
  readonly cwd: string;
  /** Names passed on from the dispatcher's environment besides `BASE_CHECK_ENV` (never its secrets). */
  readonly passEnv?: readonly string[];
  /** Variables set to these values (from the config). */
  readonly env?: Readonly<Record<string, string>>;
  /** Values redacted from the output besides the secrets in the dispatcher's environment. */
  readonly secrets?: readonly CheckSecret[];
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

  const secrets = dispatcherSecrets(process.env, opts.secrets);
  const tail = new OutputTail(opts.tailBytes ?? DEFAULT_TAIL_BYTES, secrets);
  const grace = opts.killGraceMs ?? 5_000;

  return new Promise<CheckResult>((resolvePromise) => {
    const child = spawn(opts.command, {
      shell: true,
      cwd: opts.cwd,
      // A new process group: `kill(-pgid)` then reaches every process the command started.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: checkEnvironment(process.env, opts.passEnv, opts.env),
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

/**
 * Keeps the last `limit` bytes of a stream without holding all of it, redacting secrets.
 * It holds the longest secret's length more than it shows: a secret that the cut splits
 * leaves its end at the start of what is held, and that margin is dropped after
 * redacting, so no part of a secret is shown.
 */
class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;
  private dropped = false;
  private readonly margin: number;

  constructor(
    private readonly limit: number,
    private readonly secrets: readonly CheckSecret[],
  ) {
    this.margin = Math.max(0, ...secrets.map((s) => Buffer.byteLength(s.value)));
  }

  push(b: Buffer): void {
    this.chunks.push(b);
    this.size += b.length;
    const keep = this.limit + this.margin;
    while (this.size - (this.chunks[0]?.length ?? 0) >= keep && this.chunks.length > 1) {
      this.size -= this.chunks.shift()!.length;
      this.dropped = true;
    }
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    const start = Math.max(0, all.length - this.limit - this.margin);
    const cut = this.dropped || start > 0;
    let held = Buffer.from(redactSecrets(utf8From(all.subarray(start)), this.secrets));
    if (cut) held = held.subarray(Math.min(this.margin, held.length));
    return utf8From(held.subarray(Math.max(0, held.length - this.limit)));
  }
}

/** Cutting may split a UTF-8 sequence; drop continuation bytes at the start. */
function utf8From(b: Buffer): string {
  let start = 0;
  while (start < b.length && start < 4 && ((b[start] ?? 0) & 0xc0) === 0x80) start++;
  return b.subarray(start).toString('utf8');
}
