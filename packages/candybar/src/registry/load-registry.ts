import { readFile, stat } from 'node:fs/promises';
import { AppError } from '@33god/core';
import { parse as parseYaml } from 'yaml';
import type { Registry, RegistryService } from './types.js';

/**
 * Reads the service registry for the topology view. When Holyfields exports
 * `loadServiceRegistry` (the project's one registry reader) it is used; until then the
 * YAML is read here. Either result goes through `normalizeRegistry`, which accepts both
 * the original file's snake_case layout and an already-normalized object, so the views
 * see one shape whichever reader ran.
 */
export async function loadRegistry(path: string): Promise<Registry> {
  const holyfields = await holyfieldsReader();
  if (holyfields) {
    try {
      return normalizeRegistry(await holyfields(path));
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw new AppError('REGISTRY_INVALID', `${path}: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    }
  }
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new AppError('REGISTRY_INVALID', `cannot read the service registry at ${path}`, { cause: err });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new AppError('REGISTRY_INVALID', `${path} is not valid YAML`, { cause: err });
  }
  return normalizeRegistry(doc);
}

/**
 * The registry for a path, re-read only when the file changes (size or mtime): reading
 * and validating it takes tens of milliseconds, and the topology's first paint waits on it.
 */
export class RegistryCache {
  #entry: { key: string; value: Promise<Registry> } | null = null;

  constructor(readonly path: string) {}

  async get(): Promise<Registry> {
    let key: string;
    try {
      const st = await stat(this.path);
      key = `${st.size}:${st.mtimeMs}`;
    } catch {
      key = 'missing';
    }
    if (this.#entry?.key !== key) {
      const value = loadRegistry(this.path);
      this.#entry = { key, value };
      // A failed read is not cached: the next request tries again.
      value.catch(() => {
        if (this.#entry?.value === value) this.#entry = null;
      });
    }
    return this.#entry.value;
  }
}

type Reader = (path: string) => unknown;

async function holyfieldsReader(): Promise<Reader | null> {
  try {
    const mod = (await import('@33god/holyfields')) as Record<string, unknown>;
    const fn = mod.loadServiceRegistry;
    return typeof fn === 'function' ? (fn as Reader) : null;
  } catch {
    return null;
  }
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function strings(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (!Array.isArray(v)) return [];
  return v.filter((x): x is string => typeof x === 'string');
}

function str(v: unknown, fallback = ''): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : fallback;
}

/** One registry shape from either the original YAML layout or a normalized object. */
export function normalizeRegistry(doc: unknown): Registry {
  if (!isObj(doc)) throw new AppError('REGISTRY_INVALID', 'the service registry must be a mapping');
  const rawServices = doc.services;
  const entries: [string, unknown][] = Array.isArray(rawServices)
    ? rawServices.map((s, i) => [
        str(isObj(s) ? s.id : undefined, str(isObj(s) ? s.name : undefined, `service-${i}`)),
        s,
      ])
    : isObj(rawServices)
      ? Object.entries(rawServices)
      : [];
  if (
    entries.length === 0 &&
    rawServices !== undefined &&
    !Array.isArray(rawServices) &&
    !isObj(rawServices)
  ) {
    throw new AppError('REGISTRY_INVALID', '`services` must be a mapping or a list');
  }
  const services: RegistryService[] = entries.map(([id, raw]) => normalizeService(id, raw));

  const exchangeRaw = doc.exchange;
  const exchange = isObj(exchangeRaw)
    ? {
        name: str(exchangeRaw.name, 'bloodbank.events.v1'),
        ...(typeof exchangeRaw.type === 'string' ? { type: exchangeRaw.type } : {}),
        ...(typeof exchangeRaw.durable === 'boolean' ? { durable: exchangeRaw.durable } : {}),
      }
    : str(exchangeRaw, 'bloodbank.events.v1');

  const layersRaw = isObj(doc.layers) ? doc.layers : isObj(doc.topology) ? doc.topology : {};
  const layers: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(layersRaw)) layers[k] = strings(v);

  const subsRaw = isObj(doc.eventSubscriptions)
    ? doc.eventSubscriptions
    : isObj(doc.event_subscriptions)
      ? doc.event_subscriptions
      : {};
  const eventSubscriptions: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(subsRaw)) eventSubscriptions[k] = strings(v);

  return { version: str(doc.version, '1'), exchange, services, layers, eventSubscriptions };
}

function normalizeService(id: string, raw: unknown): RegistryService {
  const s = isObj(raw) ? raw : {};
  const queues = [
    ...strings(s.queues),
    ...strings(s.queue_names),
    ...strings(s.queue_name),
    ...strings(s.queue),
  ].filter((q, i, all) => all.indexOf(q) === i);
  const endpoints: Record<string, string> = {};
  if (isObj(s.endpoints)) {
    for (const [k, v] of Object.entries(s.endpoints)) if (typeof v === 'string') endpoints[k] = v;
  }
  return {
    id: str(s.id, id),
    name: str(s.name, id),
    description: str(s.description),
    type: str(s.type, 'service'),
    status: str(s.status, 'active'),
    owner: str(s.owner),
    tags: strings(s.tags),
    queues,
    routingKeys: [...strings(s.routingKeys), ...strings(s.routing_keys)].filter(
      (q, i, all) => all.indexOf(q) === i,
    ),
    produces: strings(s.produces),
    consumes: strings(s.consumes),
    endpoints,
    queue: queues[0] ?? null,
  };
}
