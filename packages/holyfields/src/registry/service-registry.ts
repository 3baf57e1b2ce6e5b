import { readFile } from 'node:fs/promises';
import { AppError, patternProblem, topicMatches, type Violation } from '@33god/core';
import { type Document, isPair, isScalar, isSeq, parseDocument, visit } from 'yaml';
import { createAjv, toViolations } from '../schema/ajv.js';
import { escapePointer } from '../schema/pointer.js';
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
    const messages = doc.errors.map((e) => {
      const first = e.message.split('\n')[0]!.replace(/:$/, '');
      // Name the repeated key: "Map keys must be unique" alone leaves the reader counting lines.
      return e.code === 'DUPLICATE_KEY' ? `${first} (${duplicateKey(text, e.pos[0])} repeats)` : first;
    });
    throw new AppError('REGISTRY_INVALID', `${file}: not valid YAML: ${messages[0]}`, {
      extra: { file },
      violations: messages.map((message) => ({ pointer: '', message, keyword: 'yaml' })),
    });
  }
  const protos = protoKeys(doc);
  if (protos.length > 0) throw invalid(file, undefined, protos);
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
    const at = registryPath(raw, cycle);
    throw new AppError(
      'REGISTRY_INVALID',
      `${file}: the YAML alias at ${at} refers to a node that contains it`,
      {
        extra: { file },
        violations: [
          { pointer: cycle, message: 'recursive alias: the registry would be infinite', keyword: 'yaml' },
        ],
      },
    );
  }
  if (raw === null || raw === undefined || typeof raw !== 'object' || Array.isArray(raw)) {
    const what =
      raw === null || raw === undefined ? 'empty' : Array.isArray(raw) ? 'a list' : `a ${typeof raw}`;
    throw new AppError(
      'REGISTRY_INVALID',
      `${file}: the registry is ${what}; it must be a mapping with a \`services:\` member (docs/holyfields.md)`,
      {
        extra: { file },
        violations: [{ pointer: '', message: `must be a mapping, not ${what}`, keyword: 'type' }],
      },
    );
  }
  const valid = validateRegistry(raw);
  const rawProblems = valueProblems(raw as Record<string, unknown>);
  if (!valid) throw invalid(file, raw, [...toViolations(validateRegistry.errors), ...rawProblems]);
  const reg = normalize(raw as unknown as RawRegistry);
  const problems = [...rawProblems, ...semanticProblems(reg)];
  if (problems.length > 0) throw invalid(file, raw, problems);
  return reg;
}

/** The key that starts at `offset` as written (`foo`, `"a b"`), for a duplicate-key message. */
function duplicateKey(text: string, offset: number): string {
  const key = /^("[^"\n]*"|'[^'\n]*'|[^:\n,}]*)/.exec(text.slice(offset))![1]!.trim();
  return key.startsWith('"') || key.startsWith("'") ? key : `'${key}'`;
}

/** How many violations the error's message spells out; all of them are in `violations`. */
const SUMMARIZED = 3;

/**
 * REGISTRY_INVALID whose message names the first mistakes by registry path
 * (`services.foo.queue_options.max_attempts must be integer`), so a log line that shows only
 * the message still says where to look.
 */
function invalid(file: string, raw: unknown, violations: Violation[]): AppError {
  const lines = violations.slice(0, SUMMARIZED).map((v) => {
    const path = registryPath(raw, v.pointer);
    const first = path.split(/[.[]/)[0]!;
    return path === '' || v.message.startsWith(first) ? v.message : `${path} ${v.message}`;
  });
  const more = violations.length > SUMMARIZED ? `; and ${violations.length - SUMMARIZED} more` : '';
  return new AppError(
    'REGISTRY_INVALID',
    `${file}: ${violations.length} violation(s): ${lines.join('; ')}${more}`,
    { extra: { file }, violations },
  );
}

/** A JSON pointer as the registry path people read: `services.foo.routing_keys[0]`. */
export function registryPath(raw: unknown, pointer: string): string {
  if (pointer === '') return '';
  let out = '';
  let cur: unknown = raw;
  for (const token of pointer
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'))) {
    if (Array.isArray(cur)) {
      out += `[${token}]`;
      cur = cur[Number(token)];
    } else {
      out += out === '' ? token : `.${token}`;
      cur =
        cur !== null && typeof cur === 'object' && Object.hasOwn(cur, token)
          ? (cur as Record<string, unknown>)[token]
          : undefined;
    }
  }
  return out;
}

/**
 * `__proto__` keys, refused: converted to JavaScript they set the object's prototype instead
 * of adding an entry, so the entry would vanish without a word.
 */
function protoKeys(doc: Document): Violation[] {
  const out: Violation[] = [];
  visit(doc, {
    Pair(_, pair, path) {
      if (!isScalar(pair.key) || pair.key.value !== '__proto__') return;
      let pointer = '';
      let dotted = '';
      path.forEach((node, i) => {
        if (isPair(node) && isScalar(node.key)) {
          const k = String(node.key.value);
          pointer += `/${escapePointer(k)}`;
          dotted += dotted === '' ? k : `.${k}`;
        } else if (isSeq(node)) {
          const index = node.items.indexOf(path[i + 1] as never);
          pointer += `/${index}`;
          dotted += `[${index}]`;
        }
      });
      out.push({
        pointer: `${pointer}/__proto__`,
        message: `${dotted === '' ? '' : `${dotted}.`}__proto__ is not allowed as a key (JavaScript would read it as the prototype and drop the entry)`,
        keyword: 'protoKey',
      });
    },
  });
  return out;
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

const SERVICE_MEMBERS = new Set(Object.keys(registrySchema.$defs.service.properties));
const EXCHANGE_MEMBERS = new Set(Object.keys(registrySchema.properties.exchange.properties));

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
  // Members the format does not know are kept out, not refused: real registries carry their
  // own metadata. A typo of a known member (`queue_nme`) would otherwise pass unseen.
  for (const [id, service] of Object.entries(raw.services ?? {})) {
    for (const member of Object.keys(service ?? {})) {
      if (!SERVICE_MEMBERS.has(member))
        reg.warnings.push(`services.${id}.${member} is not a member of the registry format; it is ignored`);
    }
  }
  for (const member of Object.keys(raw.exchange ?? {})) {
    if (!EXCHANGE_MEMBERS.has(member))
      reg.warnings.push(`exchange.${member} is not a member of the registry format; it is ignored`);
  }
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

/**
 * Queue names longer than this many UTF-8 bytes are refused: AMQP allows 255, and Bloodbank
 * derives `<queue>.dlq` and `<queue>.retry.<delay>` from every service queue.
 */
export const MAX_QUEUE_NAME_BYTES = 223;

const RETRY_SUFFIX = /\.retry\.\d+(?:ms|s|m|h)$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Why `name` cannot be a service queue of a registry whose exchange is `exchange`, or null. */
export function queueNameProblem(name: string, exchange: string): string | null {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_QUEUE_NAME_BYTES)
    return `is ${bytes} bytes long (UTF-8); a queue name may have at most ${MAX_QUEUE_NAME_BYTES}, so that the <queue>.dlq and <queue>.retry.<delay> derived from it stay within AMQP's 255`;
  if (name.startsWith('amq.'))
    return `'${name}' starts with 'amq.', which RabbitMQ reserves for itself (it refuses to declare such a queue)`;
  if (CONTROL.test(name)) return `${JSON.stringify(name)} holds a control character`;
  if (name.endsWith('.dlq'))
    return `'${name}' ends in '.dlq', the suffix of the dead-letter queue Bloodbank derives from every service queue`;
  if (RETRY_SUFFIX.test(name))
    return `'${name}' ends like the retry queues Bloodbank derives from every service queue (<queue>.retry.<delay>)`;
  if (name === `${exchange}.unroutable`)
    return `'${name}' is the queue of the events no binding matches (<exchange>.unroutable)`;
  return null;
}

/**
 * Rules on values the JSON Schema leaves to code, each naming its registry path: queue names
 * RabbitMQ or Bloodbank's derived names rule out, a queue listed twice, and topic patterns
 * checked by the one rule the topology and the gateway apply (`patternProblem`). Runs on the
 * raw document before it is known to match the schema (so that one error lists every
 * mistake): it looks only at values of the right type, leaving the others to the schema.
 */
function valueProblems(raw: Record<string, unknown>): Violation[] {
  const out: Violation[] = [];
  const exchange = record(raw.exchange)?.name;
  const exchangeName = typeof exchange === 'string' ? exchange : 'bloodbank.events.v1';
  const add = (pointer: string, path: string, message: string, keyword: string) =>
    out.push({ pointer, message: `${path} ${message}`, keyword });
  const patterns = (pointer: string, path: string, list: unknown) => {
    for (const [i, p] of strings(list)) {
      const problem = patternProblem(p);
      if (problem) add(`${pointer}/${i}`, `${path}[${i}]`, `${JSON.stringify(p)} ${problem}`, 'topicPattern');
    }
  };
  for (const [id, value] of Object.entries(record(raw.services) ?? {})) {
    const s = record(value);
    if (!s) continue;
    const pointer = `/services/${escapePointer(id)}`;
    const path = `services.${id}`;
    const named: [string, string, string][] = [];
    if (typeof s.queue_name === 'string')
      named.push([s.queue_name, `${pointer}/queue_name`, `${path}.queue_name`]);
    for (const [i, q] of strings(s.queue_names))
      named.push([q, `${pointer}/queue_names/${i}`, `${path}.queue_names[${i}]`]);
    if (s.queue_name === undefined && s.queue_names == null && record(s.push))
      named.push([`${id}.push`, `${pointer}/push`, `${path}.push`]);
    const seen = new Set<string>();
    for (const [q, p, dotted] of named) {
      if (q === '') continue;
      const problem = queueNameProblem(q, exchangeName);
      if (problem) add(p, dotted, problem, 'queueName');
      if (seen.has(q)) add(p, dotted, `lists the queue '${q}' a second time`, 'uniqueQueue');
      seen.add(q);
    }
    patterns(`${pointer}/routing_keys`, `${path}.routing_keys`, s.routing_keys);
    patterns(`${pointer}/produces`, `${path}.produces`, s.produces);
    patterns(`${pointer}/consumes`, `${path}.consumes`, s.consumes);
    patterns(`${pointer}/push/routing_keys`, `${path}.push.routing_keys`, record(s.push)?.routing_keys);
  }
  for (const type of Object.keys(record(raw.event_subscriptions) ?? {})) {
    const problem = patternProblem(type);
    if (problem)
      add(
        `/event_subscriptions/${escapePointer(type)}`,
        `event_subscriptions.${type}`,
        problem,
        'topicPattern',
      );
  }
  if (typeof exchange === 'string' && exchange.startsWith('amq.'))
    add(
      '/exchange/name',
      'exchange.name',
      `'${exchange}' starts with 'amq.', which RabbitMQ reserves for its own exchanges`,
      'exchangeName',
    );
  return out;
}

function record(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

/** The string entries of a list, with their indexes; anything else is the schema's to report. */
function strings(v: unknown): [number, string][] {
  return Array.isArray(v)
    ? [...v.entries()].filter((e): e is [number, string] => typeof e[1] === 'string')
    : [];
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
          message: `services.${s.id} declares the queue '${q}', which service '${other}' declares too`,
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
