import { createSecretKey, type KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { type EventEnvelope, isAppError } from '@33god/core';
import type { RetryPolicy } from '../middleware/backoff.js';
import { errorReasonOf } from '../middleware/errors.js';
import type { BusLogger } from '../sdk/logger.js';
import type { Bus, Subscription } from '../sdk/types.js';
import { CircuitBreaker, type CircuitBreakerOptions } from './circuit-breaker.js';
import { displayUrl, type PushSubscriptionConfig } from './config.js';
import { deliver, deliveryRequest } from './delivery.js';
import { PushHttpClient } from './http-client.js';
import type { PushMetrics, PushState } from './metrics.js';
import { orderedByKey } from './ordering.js';

const RECENT_FAILURES = 10;
const RESUBSCRIBE_RETRY_MS = 1_000;
const PREFETCH_PER_DELIVERY = 2;

export interface PushFailure {
  readonly at: string;
  /** The endpoint's status, or null when it did not answer. */
  readonly status: number | null;
  readonly reason: string;
}

/** What /health shows of one subscription (never the secret, nor the URL's credentials or query). */
export interface PushSubscriptionStatus {
  readonly service: string;
  readonly queue: string;
  readonly url: string;
  readonly state: PushState;
  readonly ordered: boolean;
  readonly concurrency: number;
  readonly signed: boolean;
  readonly delivered: number;
  readonly failed: number;
  readonly rejected: number;
  readonly consecutive_failures: number;
  /** When the next probe is due while paused. */
  readonly probe_at: string | null;
  readonly recent_failures: readonly PushFailure[];
}

export interface PushWorkerOptions {
  readonly bus: Bus;
  readonly config: PushSubscriptionConfig;
  readonly logger: BusLogger;
  readonly metrics?: PushMetrics | undefined;
  /** Overrides the SDK's retry policy (the registry's `max_attempts` is applied first). */
  readonly retry?: Partial<RetryPolicy> | undefined;
  readonly breaker?: CircuitBreakerOptions | undefined;
  /** Declare the queue, its retry and dead-letter queues and bindings. Default true. */
  readonly declare?: boolean | undefined;
}

/**
 * One push subscription: consumes its queue through the SDK's `subscribe` (so retries and
 * dead letters are the SDK's middleware) and POSTs each event to the endpoint. Pausing is
 * cancelling the subscription (unsettled messages go back to the queue); probing is
 * subscribing with prefetch 1 until one delivery decides.
 */
export class PushWorker {
  readonly config: PushSubscriptionConfig;
  readonly #options: PushWorkerOptions;
  readonly #client: PushHttpClient;
  /** The signing key, made once (a Buffer key is imported again by every HMAC). */
  readonly #key: KeyObject | null;
  readonly #breaker: CircuitBreaker;
  readonly #middleware;
  readonly #meters: ReturnType<PushMetrics['forService']> | undefined;
  #state: PushState = 'starting';
  #subscription: Subscription | null = null;
  #switching: Promise<void> = Promise.resolve();
  #declared = false;
  #timer: NodeJS.Timeout | null = null;
  #probeAt: number | null = null;
  #stopped = false;
  #delivered = 0;
  #failed = 0;
  #rejected = 0;
  readonly #recent: PushFailure[] = [];

  constructor(options: PushWorkerOptions) {
    this.#options = options;
    this.config = options.config;
    this.#breaker = new CircuitBreaker(options.breaker);
    this.#key = this.config.secret ? createSecretKey(this.config.secret) : null;
    this.#client = new PushHttpClient(this.config.url, {
      maxSockets: this.config.concurrency,
      timeoutMs: this.config.timeoutMs,
    });
    this.#middleware = this.config.ordered ? [orderedByKey()] : [];
    this.#meters = options.metrics?.forService(this.config.service);
  }

  get state(): PushState {
    return this.#state;
  }

  /** Subscribes with the full concurrency. */
  async start(): Promise<void> {
    await this.#subscribe(this.config.concurrency);
    this.#setState('delivering');
  }

  /** Stops taking deliveries, waits for the running ones and closes the connections. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#switch(null);
    this.#client.close();
    this.#setState('stopped');
  }

  status(): PushSubscriptionStatus {
    return {
      service: this.config.service,
      queue: this.config.queue,
      url: displayUrl(this.config.url),
      state: this.#state,
      ordered: this.config.ordered,
      concurrency: this.config.concurrency,
      signed: this.config.secret !== null,
      delivered: this.#delivered,
      failed: this.#failed,
      rejected: this.#rejected,
      consecutive_failures: this.#breaker.consecutiveFailures,
      probe_at: this.#probeAt === null ? null : new Date(this.#probeAt).toISOString(),
      recent_failures: [...this.#recent],
    };
  }

  readonly #handle = async (event: EventEnvelope): Promise<void> => {
    const request = deliveryRequest(event, this.#key);
    const started = performance.now();
    try {
      await deliver(this.#client, request);
    } catch (error) {
      this.#observe(started);
      this.#failure(error);
      throw error;
    }
    this.#observe(started);
    this.#success();
  };

  #observe(started: number): void {
    this.#meters?.duration.observe((performance.now() - started) / 1000);
  }

  #success(): void {
    this.#delivered++;
    this.#meters?.delivered.inc();
    const hadFailures = this.#breaker.consecutiveFailures > 0;
    const closed = this.#breaker.succeeded();
    if (hadFailures) this.#meters?.consecutiveFailures.set(0);
    if (closed) {
      this.#options.logger.info({ service: this.config.service }, 'push endpoint answered again; resuming');
      this.#probeAt = null;
      this.#setState('delivering');
      void this.#switch(this.config.concurrency);
    } else if (this.#state === 'retrying') this.#setState('delivering');
  }

  #failure(error: unknown): void {
    const retryable = isAppError(error) && error.code === 'PUSH_DELIVERY_FAILED';
    const status = isAppError(error) && typeof error.extra.status === 'number' ? error.extra.status : null;
    this.#recent.unshift({ at: new Date().toISOString(), status, reason: errorReasonOf(error) });
    this.#recent.length = Math.min(this.#recent.length, RECENT_FAILURES);
    (retryable ? this.#meters?.failed : this.#meters?.rejected)?.inc();
    if (!retryable) {
      this.#rejected++;
      return;
    }
    this.#failed++;
    const opened = this.#breaker.failed();
    this.#meters?.consecutiveFailures.set(this.#breaker.consecutiveFailures);
    if (opened) this.#pause();
    else if (this.#state === 'delivering') this.#setState('retrying');
  }

  /** Stops taking deliveries (nothing is lost: the messages stay queued) and plans a probe. */
  #pause(): void {
    if (this.#stopped) return;
    const cooldown = this.#breaker.cooldownMs;
    this.#probeAt = Date.now() + cooldown;
    this.#options.logger.warn(
      {
        service: this.config.service,
        consecutive_failures: this.#breaker.consecutiveFailures,
        cooldown_ms: cooldown,
      },
      'push endpoint keeps failing; subscription paused until a probe succeeds',
    );
    this.#setState('paused');
    void this.#switch(null);
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#stopped) return;
      this.#breaker.probe();
      this.#setState('probing');
      void this.#switch(1);
    }, cooldown);
    this.#timer.unref();
  }

  /**
   * Replaces the subscription: cancels the current one (waiting for its running deliveries)
   * and, unless `prefetch` is null, subscribes again with that prefetch. Switches run one
   * after another; one that cannot subscribe (broker down) tries again a second later.
   */
  #switch(prefetch: number | null): Promise<void> {
    this.#switching = this.#switching.then(async () => {
      const current = this.#subscription;
      this.#subscription = null;
      await current?.cancel();
      if (prefetch === null || this.#stopped) return;
      try {
        await this.#subscribe(prefetch);
      } catch (error) {
        this.#options.logger.error(
          { service: this.config.service, err: errorReasonOf(error) },
          'push subscription could not subscribe; trying again',
        );
        const retry = setTimeout(() => {
          if (!this.#stopped && this.#subscription === null) void this.#switch(prefetch);
        }, RESUBSCRIBE_RETRY_MS);
        retry.unref();
      }
    });
    return this.#switching;
  }

  async #subscribe(concurrency: number): Promise<void> {
    const { bus, retry } = this.#options;
    const policy: Partial<RetryPolicy> = {
      ...(this.config.maxAttempts !== undefined ? { maxAttempts: this.config.maxAttempts } : {}),
      ...retry,
    };
    this.#subscription = await bus.subscribe(this.config.queue, this.config.patterns, this.#handle, {
      // Some deliveries wait beside the running ones, so a finished POST starts the next at
      // once instead of after a round trip to the broker; a probe takes exactly one.
      prefetch: concurrency === 1 ? 1 : concurrency * PREFETCH_PER_DELIVERY,
      concurrency,
      retry: policy,
      handlerName: `push:${this.config.service}`,
      declare: this.#options.declare !== false && !this.#declared,
      queue: this.config.queueSettings,
      middleware: this.#middleware,
    });
    this.#declared = true;
  }

  #setState(state: PushState): void {
    this.#state = state;
    this.#options.metrics?.setState(this.config.service, state);
  }
}
