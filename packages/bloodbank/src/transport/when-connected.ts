import type { Transport } from './transport.js';

export interface WhenConnectedOptions {
  /** A failed deferred run; it is tried again on the next (re)connect, or after `retryDelayMs`. */
  onError?: (err: unknown) => void;
  /** Wait before trying again while the connection stays up. Default 5 000. */
  retryDelayMs?: number;
}

export interface WhenConnected {
  /** True once the task has run to the end. */
  readonly done: boolean;
  /** Stops waiting for the connection; resolves once a run in progress has ended. */
  stop(): Promise<void>;
}

/**
 * Runs `task` (declare, then consume) once the transport is connected. Already connected:
 * it runs now and its error rejects this call, so a start fails as it always did.
 * Otherwise this resolves at once and the task runs on the first connect; a failed run
 * goes to `onError` and is tried again. Only the first declaration needs this: after it
 * the transport re-declares and re-consumes on every reconnect by itself.
 */
export async function whenConnected(
  transport: Transport,
  task: () => Promise<void>,
  options: WhenConnectedOptions = {},
): Promise<WhenConnected> {
  if (transport.state === 'connected') {
    await task();
    return { done: true, stop: async () => {} };
  }
  const retryDelayMs = options.retryDelayMs ?? 5_000;
  let done = false;
  let stopped = false;
  let running: Promise<void> | null = null;
  let timer: NodeJS.Timeout | undefined;
  const attempt = (): void => {
    if (done || stopped || running || transport.state !== 'connected') return;
    running = task()
      .then(
        () => {
          done = true;
          off();
        },
        (err: unknown) => {
          if (stopped) return;
          options.onError?.(err);
          // A lost connection brings a 'connected' event later; a refusal on a live one
          // (a conflicting declaration fixed by hand) only a timer notices.
          clearTimeout(timer);
          timer = setTimeout(attempt, retryDelayMs);
          timer.unref();
        },
      )
      .finally(() => {
        running = null;
      });
  };
  const off = transport.onStateChange((state) => {
    if (state === 'connected') attempt();
  });
  // It may have connected between the check above and the listener.
  attempt();
  return {
    get done() {
      return done;
    },
    async stop() {
      stopped = true;
      off();
      clearTimeout(timer);
      await running;
    },
  };
}

export interface ConnectionLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * Logs a broker that is not there: one warning at the first failed attempt, then at most
 * one per `intervalMs` while attempts keep failing (the backoff starts at 100 ms, which
 * would otherwise flood the log), and one line when the connection is (re)established.
 * Returns the function that stops it.
 */
export function logConnectionState(
  transport: Transport,
  log: ConnectionLogger,
  options: { intervalMs?: number } = {},
): () => void {
  const intervalMs = options.intervalMs ?? 5_000;
  let lastWarnAt = Number.NEGATIVE_INFINITY;
  let failures = 0;
  const warn = (err: Error | undefined) => {
    failures++;
    const now = Date.now();
    if (now - lastWarnAt < intervalMs) return;
    lastWarnAt = now;
    log.warn(
      {
        state: transport.state,
        node: transport.node,
        failed_attempts: failures,
        err: err?.message ?? 'not connected',
      },
      'broker not connected; retrying in the background',
    );
  };
  if (transport.state === 'disconnected' || transport.state === 'connecting') warn(undefined);
  return transport.onStateChange((state, err) => {
    if (state === 'disconnected') warn(err);
    else if (state === 'connected') {
      if (failures > 0) log.info({ failed_attempts: failures, node: transport.node }, 'broker connected');
      failures = 0;
      lastWarnAt = Number.NEGATIVE_INFINITY;
    }
  });
}
