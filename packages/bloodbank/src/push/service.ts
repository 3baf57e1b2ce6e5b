import type { RetryPolicy } from '../middleware/backoff.js';
import { errorReasonOf } from '../middleware/errors.js';
import { connect } from '../sdk/bus.js';
import type { BusLogger } from '../sdk/logger.js';
import type { Bus } from '../sdk/types.js';
import type { TopologyOptions } from '../topology/options.js';
import type { TopologyRegistry } from '../topology/registry.js';
import type { Transport } from '../transport/transport.js';
import type { CircuitBreakerOptions } from './circuit-breaker.js';
import { type PushSubscriptionConfig, resolvePushSubscriptions } from './config.js';
import type { PushMetrics } from './metrics.js';
import { type PushSubscriptionStatus, PushWorker } from './worker.js';

export interface PushServiceOptions {
  readonly transport: Transport;
  /** The registry's services (those with `push:` are run). */
  readonly registry: Pick<TopologyRegistry, 'services'>;
  /** Or subscriptions already resolved (`resolvePushSubscriptions`). */
  readonly subscriptions?: readonly PushSubscriptionConfig[];
  /** Only these service ids. */
  readonly only?: readonly string[];
  readonly topology?: TopologyOptions;
  readonly env?: NodeJS.ProcessEnv;
  readonly logger: BusLogger;
  readonly metrics?: PushMetrics;
  /** Overrides the SDK's retry policy for every subscription. */
  readonly retry?: Partial<RetryPolicy>;
  readonly breaker?: CircuitBreakerOptions;
}

export interface PushService {
  readonly subscriptions: readonly PushSubscriptionConfig[];
  status(): PushSubscriptionStatus[];
  /** Stops every worker (running deliveries finish; nothing is lost). */
  stop(): Promise<void>;
}

/**
 * Checks every push subscription of the registry (PUSH_CONFIG_INVALID names each mistake's
 * registry path) and runs one worker each on `transport`. A worker that cannot subscribe
 * yet (the broker is down at start) is started again when the transport connects.
 */
export async function startPushService(options: PushServiceOptions): Promise<PushService> {
  const subscriptions =
    options.subscriptions ??
    resolvePushSubscriptions(options.registry, options.env ?? process.env, {
      ...(options.topology?.skipStatuses ? { skipStatuses: options.topology.skipStatuses } : {}),
      ...(options.only ? { only: options.only } : {}),
    });
  const bus: Bus = await connect({
    app: 'bloodbank-push',
    transport: options.transport,
    ...(options.topology ? { topology: options.topology } : {}),
    logger: options.logger,
    env: options.env ?? process.env,
  });
  const workers = subscriptions.map(
    (config) =>
      new PushWorker({
        bus,
        config,
        logger: options.logger,
        metrics: options.metrics,
        retry: options.retry,
        breaker: options.breaker,
      }),
  );
  const waiting = new Set<PushWorker>();
  const tryStart = async (worker: PushWorker) => {
    try {
      await worker.start();
      waiting.delete(worker);
      options.logger.info(
        { service: worker.config.service, queue: worker.config.queue, url: worker.status().url },
        'push subscription delivering',
      );
    } catch (error) {
      waiting.add(worker);
      options.logger.warn(
        { service: worker.config.service, err: errorReasonOf(error) },
        'push subscription not started yet; will retry when the broker connects',
      );
    }
  };
  await Promise.all(workers.map(tryStart));
  const off = options.transport.onStateChange((state) => {
    if (state === 'connected') for (const w of [...waiting]) void tryStart(w);
  });
  return {
    subscriptions,
    status: () => workers.map((w) => w.status()),
    async stop() {
      off();
      await Promise.all(workers.map((w) => w.stop()));
      await bus.close();
    },
  };
}
