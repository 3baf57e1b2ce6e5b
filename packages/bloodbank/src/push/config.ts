import { AppError, envVar, parse, type Violation } from '@33god/core';
import { pushProblems } from '@33god/holyfields';
import type { QueueSettings } from '../topology/plan.js';
import type { TopologyRegistry, TopologyService } from '../topology/registry.js';
import { decodeWebhookSecret } from './signature.js';

export const BLOODBANK_PUSH = envVar({
  name: 'BLOODBANK_PUSH',
  doc: 'whether the gateway runs the registry push subscriptions (false: run them with `bloodbank push`)',
  default: 'true',
  parse: parse.bool,
});

export const DEFAULT_PUSH_CONCURRENCY = 8;
export const DEFAULT_PUSH_TIMEOUT_MS = 10_000;
const MAX_CONCURRENCY = 256;
const TIMEOUT_RANGE = [100, 120_000] as const;

/** One push subscription, checked and ready to run. */
export interface PushSubscriptionConfig {
  /** The registry service id. */
  readonly service: string;
  readonly queue: string;
  /** Binding patterns of the queue (the service's routing keys with the push's own). */
  readonly patterns: readonly string[];
  readonly url: URL;
  readonly concurrency: number;
  readonly timeoutMs: number;
  /** HMAC key; null: deliveries are not signed. Never logged, never shown. */
  readonly secret: Buffer | null;
  /** Name of the variable the secret came from (for messages; never the value). */
  readonly secretEnv: string | null;
  readonly ordered: boolean;
  /** Attempts in all (registry `queue_options.max_attempts`), else the SDK's default. */
  readonly maxAttempts?: number;
  readonly queueSettings: QueueSettings;
}

/**
 * Every push subscription of the registry, checked: a URL that is http(s), one queue with at
 * least one binding, concurrency and timeout in range, and a `secret_env` naming a set variable
 * holding base64. All mistakes are reported at once as PUSH_CONFIG_INVALID, each naming its
 * registry path (`services.<id>.push.url`). Services whose status is skipped get none.
 */
export function resolvePushSubscriptions(
  registry: Pick<TopologyRegistry, 'services'>,
  env: NodeJS.ProcessEnv = process.env,
  options: { skipStatuses?: readonly string[]; only?: readonly string[] } = {},
): PushSubscriptionConfig[] {
  const skip = options.skipStatuses ?? ['deprecated'];
  const problems: Violation[] = [];
  const out: PushSubscriptionConfig[] = [];
  for (const service of registry.services) {
    if (!service.push || skip.includes(service.status ?? 'active')) continue;
    if (options.only && !options.only.includes(service.id)) continue;
    const found = [...pushProblems(service), ...settingProblems(service)];
    const secret = secretOf(service, env, found);
    problems.push(...found);
    if (found.length === 0) out.push(configOf(service, secret));
  }
  if (options.only) {
    for (const id of options.only) {
      if (!registry.services.some((s) => s.id === id && s.push))
        problems.push({
          pointer: `/services/${id}/push`,
          message: `services.${id}.push is not in the registry`,
        });
    }
  }
  if (problems.length > 0) {
    throw new AppError('PUSH_CONFIG_INVALID', problems.map((p) => p.message).join('; '), {
      violations: problems,
    });
  }
  return out;
}

function settingProblems(service: TopologyService): Violation[] {
  const push = service.push!;
  const out: Violation[] = [];
  const at = (member: string, message: string) =>
    out.push({
      pointer: `/services/${service.id}/push/${member}`,
      message: `services.${service.id}.push.${member} ${message}`,
    });
  const c = push.concurrency;
  if (c !== undefined && (!Number.isInteger(c) || c < 1 || c > MAX_CONCURRENCY))
    at('concurrency', `must be a whole number from 1 to ${MAX_CONCURRENCY}, got ${c}`);
  const t = push.timeoutMs;
  if (t !== undefined && (!Number.isInteger(t) || t < TIMEOUT_RANGE[0] || t > TIMEOUT_RANGE[1]))
    at(
      'timeout_ms',
      `must be a whole number of ms from ${TIMEOUT_RANGE[0]} to ${TIMEOUT_RANGE[1]}, got ${t}`,
    );
  return out;
}

function secretOf(service: TopologyService, env: NodeJS.ProcessEnv, problems: Violation[]): Buffer | null {
  const name = service.push!.secretEnv;
  if (name === undefined) return null;
  const at = (message: string) =>
    problems.push({
      pointer: `/services/${service.id}/push/secret_env`,
      message: `services.${service.id}.push.secret_env ${message}`,
    });
  const value = env[name];
  if (value === undefined || value === '') {
    at(`names ${name}, which is not set`);
    return null;
  }
  const key = decodeWebhookSecret(value);
  if (!key) at(`names ${name}, whose value is not base64 (optionally prefixed whsec_)`);
  return key;
}

function configOf(service: TopologyService, secret: Buffer | null): PushSubscriptionConfig {
  const push = service.push!;
  const queueSettings: QueueSettings = {};
  if (service.queue?.messageTtlMs !== undefined) queueSettings.messageTtlMs = service.queue.messageTtlMs;
  if (service.queue?.queueType !== undefined) queueSettings.queueType = service.queue.queueType;
  const patterns = [...service.routingKeys];
  for (const key of push.routingKeys ?? []) if (!patterns.includes(key)) patterns.push(key);
  const config: PushSubscriptionConfig = {
    service: service.id,
    queue: service.queues[0]!,
    patterns,
    url: new URL(push.url),
    concurrency: push.concurrency ?? DEFAULT_PUSH_CONCURRENCY,
    timeoutMs: push.timeoutMs ?? DEFAULT_PUSH_TIMEOUT_MS,
    secret,
    secretEnv: push.secretEnv ?? null,
    ordered: push.ordered ?? false,
    queueSettings,
    ...(service.queue?.maxAttempts !== undefined ? { maxAttempts: service.queue.maxAttempts } : {}),
  };
  return config;
}

/** The URL as shown in /health, logs and the dashboard: no credentials, query or fragment. */
export function displayUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}
