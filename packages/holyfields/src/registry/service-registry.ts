import { readFile } from 'node:fs/promises';
import { AppError, topicMatches, type Violation } from '@33god/core';
import { parseDocument } from 'yaml';
import { createAjv, toViolations } from '../schema/ajv.js';
import registrySchema from './registry.schema.json' with { type: 'json' };

export interface QueueSettings {
  /** Message TTL of the service's queues, overriding the 24 h default; null: no TTL. */
  messageTtlMs?: number | null;
  queueType?: 'classic' | 'quorum';
  /** Deliveries before a message is dead-lettered. */
  maxAttempts?: number;
}

/** A service's HTTP push subscription (`push:` in the registry; docs/push.md). */
export interface PushSettings {
  url: string;
  /** `push.routing_keys` alone (they are also merged into the service's `routingKeys`). */
  routingKeys: string[];
  concurrency?: number;
  timeoutMs?: number;
  /** Name of the environment variable holding the signing secret. */
  secretEnv?: string;
  ordered: boolean;
}

export interface ServiceDefinition {
  /** The key under `services:`. */
  id: string;
  name: string;
  description?: string;
  type?: string;
  /** `active` when the registry does not say. */
  status: string;
  owner?: string;
  tags: string[];
  /** `queue_name` and `queue_names` together. */
  queues: string[];
  /** Binding patterns of the service's queues. */
  routingKeys: string[];
  /** Event types (or topic patterns) the service publishes. */
  produces: string[];
  /** Event types (or topic patterns) the service reads without a queue of its own (e.g. via Candystore). */
  consumes: string[];
  endpoints: Record<string, string>;
  queue: QueueSettings;
  /** Present when the service is fed by an HTTP push subscription. */
  push?: PushSettings;
}

export interface ServiceRegistry {
  version: string;
  exchange: { name: string; type: string; durable: boolean };
  /** Sorted by id. */
  services: ServiceDefinition[];
  /** Topology layers in registry order: layer name → service ids. */
  layers: Record<string, string[]>;
  /** event type → service ids, as the registry's `event_subscriptions` lists them. */
  eventSubscriptions: Record<string, string[]>;
  /** Things worth a look that do not make the registry invalid (e.g. a layer naming an unknown service). */
  warnings: string[];
}

const validateRegistry = createAjv().compile(registrySchema);

/** Reads, validates and normalizes a registry file. Errors are REGISTRY_INVALID with every violation. */
export async function loadServiceRegistry(path: string): Promise<ServiceRegistry> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new AppError('REGISTRY_INVALID', `${path}: cannot be read (${code})`, { extra: { file: path } });
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const line = new TextDecoder('utf-8').decode(bytes).split('\uFFFD')[0]!.split('\n').length;
    throw new AppError('REGISTRY_INVALID', `${path}: not valid UTF-8 (line ${line})`, {
      extra: { file: path },
    });
  }
  return parseServiceRegistry(text, path);
}

/** Validates and normalizes registry YAML (or JSON) text; `file` names it in errors. */
export function parseServiceRegistry(text: string, file = 'registry.yaml'): ServiceRegistry {
  // `<<` merge keys as YAML 1.1 tools read them; an alias bomb is refused by `maxAliasCount`.
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, merge: true });
  if (doc.errors.length > 0) {
    throw new AppError('REGISTRY_INVALID', `${file}: not valid YAML`, {
      extra: { file },
      violations: doc.errors.map((e) => ({
        pointer: '',
        message: e.message.split('\n')[0]!,
        keyword: 'yaml',
      })),
    });
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    // The yaml package throws a ReferenceError for an alias bomb (aliases of aliases expanding exponentially).
    throw new AppError('REGISTRY_INVALID', `${file}: not valid YAML`, {
      extra: { file },
      violations: [{ pointer: '', message: (err as Error).message.split('\n')[0]!, keyword: 'yaml' }],
    });
  }
  const cycle = cyclePointer(raw);
  if (cycle !== undefined) {
    throw new AppError('REGISTRY_INVALID', `${file}: a YAML alias refers to a node that contains it`, {
      extra: { file },
      violations: [
        { pointer: cycle, message: 'recursive alias: the registry would be infinite', keyword: 'yaml' },
      ],
    });
  }
  if (!validateRegistry(raw)) {
    const violations = toViolations(validateRegistry.errors);
    throw new AppError('REGISTRY_INVALID', `${file}: ${violations.length} violation(s)`, {
      extra: { file },
      violations,
    });
  }
  const reg = normalize(raw as unknown as RawRegistry);
  const problems = semanticProblems(reg);
  if (problems.length > 0) {
    throw new AppError('REGISTRY_INVALID', `${file}: ${problems.length} violation(s)`, {
      extra: { file },
      violations: problems,
    });
  }
  return reg;
}

/** The JSON pointer of a value that contains itself (a YAML alias to an ancestor), if any. */
function cyclePointer(root: unknown): string | undefined {
  const ancestors = new Set<unknown>();
  const visit = (v: unknown, pointer: string): string | undefined => {
    if (v === null || typeof v !== 'object') return undefined;
    if (ancestors.has(v)) return pointer;
    ancestors.add(v);
    const entries = Array.isArray(v) ? v.entries() : Object.entries(v as Record<string, unknown>);
    for (const [k, child] of entries) {
      const found = visit(child, `${pointer}/${String(k).replaceAll('~', '~0').replaceAll('/', '~1')}`);
      if (found !== undefined) return found;
    }
    ancestors.delete(v);
    return undefined;
  };
  return visit(root, '');
}

interface RawService {
  name?: string;
  description?: string;
  type?: string;
  status?: string;
  owner?: string;
  tags?: string[] | null;
  queue_name?: string;
  queue_names?: string[] | null;
  routing_keys?: string[] | null;
  produces?: string[] | null;
  consumes?: string[] | null;
  endpoints?: Record<string, string> | null;
  queue_options?: {
    message_ttl_ms?: number | null;
    queue_type?: 'classic' | 'quorum';
    max_attempts?: number;
  };
  push?: {
    url?: string;
    routing_keys?: string[] | null;
    concurrency?: number;
    timeout_ms?: number;
    secret_env?: string;
    ordered?: boolean;
  };
}

interface RawRegistry {
  version?: string | number;
  exchange?: { name: string; type?: string; durable?: boolean };
  services: Record<string, RawService>;
  event_subscriptions?: Record<string, string[] | null> | null;
  topology?: Record<string, string[] | null> | null;
}

function normalize(raw: RawRegistry): ServiceRegistry {
  const services = Object.entries(raw.services ?? {})
    .map(([id, s]): ServiceDefinition => {
      const def: ServiceDefinition = {
        id,
        name: s.name ?? id,
        status: s.status ?? 'active',
        tags: [...(s.tags ?? [])],
        queues: [...(s.queue_name ? [s.queue_name] : []), ...(s.queue_names ?? [])],
        routingKeys: [...(s.routing_keys ?? [])],
        produces: [...(s.produces ?? [])],
        consumes: [...(s.consumes ?? [])],
        endpoints: { ...(s.endpoints ?? {}) },
        queue: {},
      };
      if (s.description !== undefined) def.description = s.description;
      if (s.type !== undefined) def.type = s.type;
      if (s.owner !== undefined) def.owner = s.owner;
      const q = s.queue_options;
      if (q?.message_ttl_ms !== undefined) def.queue.messageTtlMs = q.message_ttl_ms;
      if (q?.queue_type !== undefined) def.queue.queueType = q.queue_type;
      if (q?.max_attempts !== undefined) def.queue.maxAttempts = q.max_attempts;
      if (s.push) addPush(id, def, s.push);
      return def;
    })
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const lists = (m: Record<string, string[] | null> | null | undefined): Record<string, string[]> =>
    Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, [...(v ?? [])]]));
  const reg: ServiceRegistry = {
    version: String(raw.version ?? '1.0'),
    exchange: {
      name: raw.exchange?.name ?? 'bloodbank.events.v1',
      type: raw.exchange?.type ?? 'topic',
      durable: raw.exchange?.durable ?? true,
    },
    services,
    layers: lists(raw.topology),
    eventSubscriptions: lists(raw.event_subscriptions),
    warnings: [],
  };
  const ids = new Set(services.map((s) => s.id));
  for (const [layer, members] of Object.entries(reg.layers)) {
    for (const m of members) {
      if (!ids.has(m)) reg.warnings.push(`topology layer '${layer}' names '${m}', which is not a service`);
    }
  }
  for (const [type, members] of Object.entries(reg.eventSubscriptions)) {
    for (const m of members) {
      if (!ids.has(m))
        reg.warnings.push(`event_subscriptions of '${type}' names '${m}', which is not a service`);
    }
  }
  return reg;
}

/**
 * A push subscription consumes the service's one queue (`<id>.push` when it names none), bound
 * to the service's routing keys and the push's own.
 */
function addPush(id: string, def: ServiceDefinition, raw: NonNullable<RawService['push']>): void {
  const push: PushSettings = {
    url: raw.url ?? '',
    routingKeys: [...(raw.routing_keys ?? [])],
    ordered: raw.ordered ?? false,
  };
  if (raw.concurrency !== undefined) push.concurrency = raw.concurrency;
  if (raw.timeout_ms !== undefined) push.timeoutMs = raw.timeout_ms;
  if (raw.secret_env !== undefined) push.secretEnv = raw.secret_env;
  def.push = push;
  if (def.queues.length === 0) def.queues.push(`${id}.push`);
  for (const key of push.routingKeys) if (!def.routingKeys.includes(key)) def.routingKeys.push(key);
}

/** Problems of one push subscription the JSON Schema cannot say, each naming its registry path. */
export function pushProblems(service: {
  readonly id: string;
  readonly queues: readonly string[];
  readonly routingKeys: readonly string[];
  readonly push?: { readonly url: string } | undefined;
}): Violation[] {
  const push = service.push;
  if (!push) return [];
  const path = `services.${service.id}.push`;
  const pointer = `/services/${service.id}/push`;
  const out: Violation[] = [];
  const bad = (member: string, message: string) =>
    out.push({
      pointer: member ? `${pointer}/${member}` : pointer,
      message: `${path}${member ? `.${member}` : ''} ${message}`,
      keyword: 'push',
    });
  if (!push.url) bad('url', 'is required: the endpoint events are POSTed to');
  else {
    let url: URL | null = null;
    try {
      url = new URL(push.url);
    } catch {
      bad('url', 'is not a URL');
    }
    if (url && url.protocol !== 'http:' && url.protocol !== 'https:')
      bad('url', `must be an http:// or https:// URL, not ${url.protocol}//`);
  }
  if (service.queues.length !== 1)
    bad(
      '',
      `needs the service to have one queue, it has ${service.queues.length} (${service.queues.join(', ')})`,
    );
  if (service.routingKeys.length === 0)
    bad(
      'routing_keys',
      "or the service's routing_keys must name at least one binding: nothing would reach the queue",
    );
  return out;
}

/** What the JSON Schema cannot say: a queue belongs to one service; push subscriptions make sense. */
function semanticProblems(reg: ServiceRegistry): Violation[] {
  const owner = new Map<string, string>();
  const out: Violation[] = [];
  for (const s of reg.services) out.push(...pushProblems(s));
  for (const s of reg.services) {
    for (const q of s.queues) {
      const other = owner.get(q);
      if (other !== undefined && other !== s.id) {
        out.push({
          pointer: `/services/${s.id}`,
          message: `queue '${q}' is also declared by service '${other}'`,
          keyword: 'uniqueQueue',
        });
      }
      owner.set(q, s.id);
    }
  }
  return out;
}

/** Services that receive `eventType`: a queue binding or `consumes` pattern matches it, or `event_subscriptions` lists them. */
export function consumersOf(registry: ServiceRegistry, eventType: string): ServiceDefinition[] {
  const listed = new Set<string>();
  for (const [pattern, ids] of Object.entries(registry.eventSubscriptions)) {
    if (topicMatches(pattern, eventType)) for (const id of ids) listed.add(id);
  }
  return registry.services.filter(
    (s) =>
      listed.has(s.id) ||
      s.routingKeys.some((p) => topicMatches(p, eventType)) ||
      s.consumes.some((p) => topicMatches(p, eventType)),
  );
}

/** Services that declare they publish `eventType` (their `produces` may hold topic patterns). */
export function producersOf(registry: ServiceRegistry, eventType: string): ServiceDefinition[] {
  return registry.services.filter((s) =>
    s.produces.some((p) => p === eventType || topicMatches(p, eventType)),
  );
}
