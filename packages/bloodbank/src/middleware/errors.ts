import { isAppError } from '@33god/core';

/**
 * Failure classes decide what happens to a failed message (after Temporal's
 * `ApplicationFailure.nonRetryable`): throw a `RetryableError` to ask for another
 * attempt after a delay, a `NonRetryableError` to send the message to the dead
 * letters at once. An `AppError` follows its catalogue entry's `retryable`; any other
 * error is retried, because most unknown failures (timeouts, a database restarting)
 * are transient.
 */
export class RetryableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class NonRetryableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * Not a failure: the message goes back to its queue untouched (no attempt counted).
 * The async iterator uses it for events it buffered but never handed out.
 */
export class RequeueSignal extends Error {
  constructor() {
    super('requeue');
    this.name = 'RequeueSignal';
  }
}

export function isRetryable(err: unknown): boolean {
  if (err instanceof NonRetryableError) return false;
  if (err instanceof RetryableError) return true;
  if (isAppError(err)) return err.retryable;
  return true;
}

/**
 * How long the failed side asked to be left alone before the next attempt, in ms: an
 * `AppError` whose `extra.retry_after_ms` holds it (a push endpoint's `Retry-After`).
 */
export function retryAfterOf(err: unknown): number | undefined {
  if (!isAppError(err)) return undefined;
  const ms = err.extra.retry_after_ms;
  return typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

/** The class recorded in `x-dead-letter-error-class`: the catalogue code for an AppError, else the error's name. */
export function errorClassOf(err: unknown): string {
  if (isAppError(err)) return err.code;
  if (err instanceof Error) return err.name || err.constructor.name || 'Error';
  return typeof err;
}

const MAX_REASON_LENGTH = 1000;

/** The reason recorded on a dead letter: the error's message, bounded (headers travel with every copy). */
export function errorReasonOf(err: unknown): string {
  const text = err instanceof Error ? err.message : typeof err === 'string' ? err : safeJson(err);
  return text.length > MAX_REASON_LENGTH ? `${text.slice(0, MAX_REASON_LENGTH - 1)}…` : text;
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
