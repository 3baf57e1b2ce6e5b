import { type FSWatcher, watch } from 'node:fs';
import {
  loadSchemaTree,
  loadServiceRegistry,
  type SchemaRegistry,
  type ServiceRegistry,
} from '@33god/holyfields';

/** The part of a Holyfields `SchemaRegistry` the gateway uses. */
export type GatewaySchemaRegistry = Pick<SchemaRegistry, 'validate' | 'list' | 'get' | 'size'>;

/** The part of a Holyfields service registry the gateway uses. */
export type GatewayServiceRegistry = Pick<ServiceRegistry, 'services'> & {
  /** What the loader kept out or could not resolve (an unknown member, a layer naming no service). */
  readonly warnings?: readonly string[];
};

export interface SchemaStoreOptions {
  schemasDir: string;
  /** Service registry file; without one, auth cannot grant any event type. */
  registryPath?: string | undefined;
  /** Replaces the Holyfields loader (a second schema source, or a test's loader). */
  loadSchemas?: (dir: string) => GatewaySchemaRegistry | Promise<GatewaySchemaRegistry>;
  loadRegistry?: (path: string) => GatewayServiceRegistry | Promise<GatewayServiceRegistry>;
  log?: {
    info(obj: object, msg: string): void;
    warn(obj: object, msg: string): void;
    error(obj: object, msg: string): void;
  };
}

export interface SchemaStoreStatus {
  schemas: number;
  services: number | null;
  loaded_at: string;
  reloads: number;
  last_reload_error: { at: string; message: string } | null;
}

/**
 * Holds the loaded schema and service registries and swaps them atomically on reload.
 * A request reads `store.schemas` once, so it sees either the old or the new registry,
 * never a half-built one; a tree that fails to load is refused and the old one kept.
 */
export class SchemaStore {
  readonly #options: SchemaStoreOptions;
  #schemas: GatewaySchemaRegistry | null = null;
  #services: GatewayServiceRegistry | null = null;
  #produces = new Map<string, readonly string[]>();
  #loadedAt = new Date();
  #reloads = 0;
  #lastError: { at: string; message: string } | null = null;
  #running: Promise<boolean> | null = null;
  #pending = false;
  #watcher: FSWatcher | null = null;
  #debounce: NodeJS.Timeout | null = null;
  readonly #listeners = new Set<(ok: boolean) => void>();

  constructor(options: SchemaStoreOptions) {
    this.#options = options;
  }

  /** First load; throws when the tree or the registry cannot be loaded (no old one to keep). */
  async load(): Promise<void> {
    const next = await this.#build();
    this.#swap(next);
  }

  get schemas(): GatewaySchemaRegistry {
    if (this.#schemas === null) throw new Error('SchemaStore.load() was not awaited');
    return this.#schemas;
  }

  get services(): GatewayServiceRegistry | null {
    return this.#services;
  }

  /** The `produces` list of a registry service, or undefined when the service is not registered. */
  produces = (service: string): readonly string[] | undefined => this.#produces.get(service);

  get status(): SchemaStoreStatus {
    return {
      schemas: this.#schemas?.size ?? 0,
      services: this.#services ? this.#services.services.length : null,
      loaded_at: this.#loadedAt.toISOString(),
      reloads: this.#reloads,
      last_reload_error: this.#lastError,
    };
  }

  /** Called after every reload attempt with whether it succeeded. */
  onReload(listener: (ok: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Rebuilds both registries and swaps them in. Concurrent calls coalesce: a reload asked
   * for while one runs is done once more after it, so the last change is never missed.
   */
  reload(reason: string): Promise<boolean> {
    if (this.#running) {
      this.#pending = true;
      return this.#running;
    }
    this.#running = (async () => {
      let ok = false;
      do {
        this.#pending = false;
        try {
          this.#swap(await this.#build());
          this.#lastError = null;
          this.#options.log?.info({ reason, schemas: this.#schemas?.size }, 'schema registry reloaded');
          ok = true;
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          this.#lastError = { at: new Date().toISOString(), message };
          this.#options.log?.error(
            { reason, err: message },
            'schema reload refused; keeping the loaded tree',
          );
          ok = false;
        }
      } while (this.#pending);
      this.#running = null;
      for (const l of this.#listeners) l(ok);
      return ok;
    })();
    return this.#running;
  }

  /** Reloads when a file under the schema directory (or the registry file) changes, debounced. */
  watch(debounceMs = 150): void {
    if (this.#watcher) return;
    const trigger = () => {
      if (this.#debounce) clearTimeout(this.#debounce);
      this.#debounce = setTimeout(() => {
        this.#debounce = null;
        void this.reload('schema directory changed');
      }, debounceMs);
    };
    try {
      this.#watcher = watch(this.#options.schemasDir, { recursive: true }, trigger);
      this.#watcher.on('error', () => {});
    } catch (err) {
      this.#options.log?.error(
        { err: String(err) },
        'cannot watch the schema directory; reload by event only',
      );
    }
  }

  close(): void {
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#watcher?.close();
    this.#watcher = null;
  }

  async #build(): Promise<{ schemas: GatewaySchemaRegistry; services: GatewayServiceRegistry | null }> {
    const o = this.#options;
    const schemas = await (o.loadSchemas ?? defaultLoadSchemas)(o.schemasDir);
    const services = o.registryPath ? await (o.loadRegistry ?? defaultLoadRegistry)(o.registryPath) : null;
    for (const warning of services?.warnings ?? []) o.log?.warn({ registry: o.registryPath }, warning);
    return { schemas, services };
  }

  #swap(next: { schemas: GatewaySchemaRegistry; services: GatewayServiceRegistry | null }): void {
    const produces = new Map<string, readonly string[]>();
    for (const s of next.services?.services ?? []) produces.set(s.id, s.produces ?? []);
    this.#schemas = next.schemas;
    this.#services = next.services;
    this.#produces = produces;
    this.#loadedAt = new Date();
    this.#reloads++;
  }
}

async function defaultLoadSchemas(dir: string): Promise<GatewaySchemaRegistry> {
  return await loadSchemaTree(dir);
}

async function defaultLoadRegistry(path: string): Promise<GatewayServiceRegistry> {
  return await loadServiceRegistry(path);
}
