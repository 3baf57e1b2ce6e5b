import { stat } from 'node:fs/promises';
import { loadServiceRegistry, type ServiceRegistry } from '@33god/holyfields';
import type { Registry } from './types.js';

/** Reads the service registry with Holyfields (the one registry reader) for the topology view. */
export async function loadRegistry(path: string): Promise<Registry> {
  return toViewRegistry(await loadServiceRegistry(path));
}

/**
 * The registry as the browser receives it (`GET /api/registry`): Holyfields' registry with
 * every optional text filled in, and `queue` the service's first queue name (Holyfields keeps
 * the queue settings there), so the views need no checks for missing members.
 */
export function toViewRegistry(reg: ServiceRegistry): Registry {
  return {
    version: reg.version,
    exchange: reg.exchange,
    services: reg.services.map((s) => ({
      id: s.id,
      name: s.name,
      description: s.description ?? '',
      type: s.type ?? 'service',
      status: s.status,
      owner: s.owner ?? '',
      tags: s.tags,
      queues: s.queues,
      routingKeys: s.routingKeys,
      produces: s.produces,
      consumes: s.consumes,
      endpoints: s.endpoints,
      queue: s.queues[0] ?? null,
      push: s.push
        ? { url: displayUrl(s.push.url), ordered: s.push.ordered, concurrency: s.push.concurrency ?? null }
        : null,
    })),
    layers: reg.layers,
    eventSubscriptions: reg.eventSubscriptions,
  };
}

function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
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
