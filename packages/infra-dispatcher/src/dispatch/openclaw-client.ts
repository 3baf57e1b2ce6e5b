import { AppError } from '@33god/core';
import type { OpenClawAgentRequest } from './message.js';

/**
 * Sends a dispatch to OpenClaw's `/hooks/agent`. Network errors, timeouts, 5xx and
 * 429 are retried with exponential backoff (bounded in attempts and in total time);
 * any other 4xx is final: OpenClaw refused this request and sending it again cannot help.
 */

export interface RetryPolicy {
  /** Attempts in all, the first included. Default 5. */
  readonly maxAttempts: number;
  /** Delay before the second attempt; doubles each time. Default 500 ms. */
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** No new attempt starts after this much time since the first. Default 60 s. */
  readonly maxTotalMs: number;
  /** Each request is aborted after this long. Default 30 s. */
  readonly requestTimeoutMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 5,
  initialDelayMs: 500,
  maxDelayMs: 8_000,
  maxTotalMs: 60_000,
  requestTimeoutMs: 30_000,
};

export interface OpenClawClientOptions {
  readonly url: string;
  readonly token: string;
  readonly retry?: Partial<RetryPolicy>;
  /** Defaults to the global fetch. */
  readonly fetch?: typeof fetch;
}

export interface DispatchReceipt {
  readonly status: number;
  readonly attempts: number;
  /** OpenClaw's answer, at most 2 KiB of it. */
  readonly response: string;
  /**
   * An earlier attempt ended without an answer after its request may have reached OpenClaw (a
   * timeout, a connection reset): OpenClaw may have this ticket twice.
   */
  readonly uncertain: boolean;
}

export interface OpenClawClient {
  readonly url: string;
  /**
   * Resolves once OpenClaw answered 2xx. `signal` stops retrying (never a request in flight). Rejects with `DISPATCH_REJECTED` (not
   * retryable; `extra.status` is OpenClaw's status) or `DISPATCH_FAILED` (retryable:
   * attempts or time ran out). `extra.attempts` says how many requests were made, and
   * `extra.uncertain` whether one of them may have been accepted all the same.
   */
  dispatch(request: OpenClawAgentRequest, signal?: AbortSignal): Promise<DispatchReceipt>;
}

const MAX_RESPONSE_CHARS = 2048;

export function createOpenClawClient(opts: OpenClawClientOptions): OpenClawClient {
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...opts.retry };
  const doFetch = opts.fetch ?? fetch;

  // A request already sent is never aborted by `signal`: OpenClaw may have taken it, and only its answer
  // tells whether the dispatch may be recorded. Stopping only prevents further attempts.
  async function attempt(body: string): Promise<Response> {
    return doFetch(opts.url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${opts.token}`,
        'content-type': 'application/json',
        accept: 'application/json',
      },
      body,
      signal: AbortSignal.timeout(policy.requestTimeoutMs),
    });
  }

  return {
    url: opts.url,
    async dispatch(request, signal) {
      const body = JSON.stringify(request);
      const startedAt = Date.now();
      let lastProblem = '';
      let lastStatus: number | undefined;
      let uncertain = false;
      for (let n = 1; ; n++) {
        if (signal?.aborted) {
          throw new AppError('DISPATCH_FAILED', 'dispatch abandoned: the dispatcher is stopping', {
            extra: { attempts: n - 1, stopping: true, uncertain },
          });
        }
        try {
          const res = await attempt(body);
          const text = await readText(res);
          if (res.ok) return { status: res.status, attempts: n, response: text, uncertain };
          lastStatus = res.status;
          lastProblem = `OpenClaw answered ${res.status}${text ? `: ${oneLine(text)}` : ''}`;
          if (!isRetryableStatus(res.status)) {
            throw new AppError('DISPATCH_REJECTED', lastProblem, {
              extra: { status: res.status, attempts: n, uncertain },
            });
          }
        } catch (err) {
          if (err instanceof AppError) throw err;
          lastStatus = undefined;
          lastProblem = `request to OpenClaw failed: ${describeNetworkError(err)}`;
          if (!neverConnected(err)) uncertain = true;
        }
        const delay = backoff(policy, n);
        const elapsed = Date.now() - startedAt;
        if (n >= policy.maxAttempts || elapsed + delay > policy.maxTotalMs) {
          throw new AppError('DISPATCH_FAILED', `${lastProblem} (gave up after ${n} attempts)`, {
            extra: { attempts: n, uncertain, ...(lastStatus === undefined ? {} : { status: lastStatus }) },
          });
        }
        await sleep(delay, signal);
      }
    },
  };
}

export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

/** Exponential backoff with jitter in [50 %, 100 %] of the step, so several dispatchers do not retry in step. */
export function backoff(policy: Pick<RetryPolicy, 'initialDelayMs' | 'maxDelayMs'>, attempt: number): number {
  const step = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (attempt - 1));
  return Math.round(step * (0.5 + Math.random() * 0.5));
}

async function readText(res: Response): Promise<string> {
  try {
    return (await res.text()).slice(0, MAX_RESPONSE_CHARS);
  } catch {
    return '';
  }
}

function oneLine(s: string): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > 300 ? `${flat.slice(0, 300)}…` : flat;
}

function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'TimeoutError') return 'no answer in time';
  const code = networkErrorCode(err);
  return code ? `${err.message} (${code})` : err.message;
}

function networkErrorCode(err: unknown): string | undefined {
  const cause = err instanceof Error ? (err as Error & { cause?: unknown }).cause : undefined;
  return cause && typeof cause === 'object' && 'code' in cause ? String(cause.code) : undefined;
}

/** Errors raised before a connection existed: the request cannot have reached OpenClaw. */
const NOT_CONNECTED_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

function neverConnected(err: unknown): boolean {
  const code = networkErrorCode(err);
  return code !== undefined && NOT_CONNECTED_CODES.has(code);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
