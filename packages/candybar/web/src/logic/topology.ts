import { topicMatches } from '@33god/core';
import type { Registry, RegistryService } from './registry.js';
import { serviceForApp } from './registry.js';

/**
 * Producer → consumer edges, computed the way the broker routes: an edge exists
 * when a type the producer declares matches a pattern the consumer is bound to.
 */

export interface TopologyEdge {
  /** `from->to` */
  id: string;
  from: string;
  to: string;
  /** Produced event types that travel along this edge, sorted. */
  eventTypes: string[];
}

export interface ConsumerBinding {
  pattern: string;
  /** Where the binding comes from: a queue binding, a `consumes` entry, or `event_subscriptions`. */
  origin: 'routing_key' | 'consumes' | 'subscription';
}

/** Every pattern a service receives events by, without duplicates. */
export function consumerBindings(reg: Registry, service: RegistryService): ConsumerBinding[] {
  const seen = new Set<string>();
  const out: ConsumerBinding[] = [];
  const add = (pattern: string, origin: ConsumerBinding['origin']) => {
    if (seen.has(pattern)) return;
    seen.add(pattern);
    out.push({ pattern, origin });
  };
  for (const p of service.routingKeys) add(p, 'routing_key');
  for (const p of service.consumes) add(p, 'consumes');
  for (const [type, ids] of Object.entries(reg.eventSubscriptions)) {
    if (ids.includes(service.id)) add(type, 'subscription');
  }
  return out;
}

/**
 * A router for one registry: which services consume a type, and which edges an
 * event travels. Matches are cached per type because live traffic repeats types.
 */
export class TopologyIndex {
  readonly edges: TopologyEdge[];
  readonly #bindings = new Map<string, string[]>();
  readonly #consumerCache = new Map<string, string[]>();
  readonly #producersByType = new Map<string, string[]>();
  readonly #edgeIds = new Set<string>();

  constructor(readonly registry: Registry) {
    for (const s of registry.services) {
      this.#bindings.set(
        s.id,
        consumerBindings(registry, s).map((b) => b.pattern),
      );
      for (const t of s.produces) {
        const list = this.#producersByType.get(t) ?? [];
        list.push(s.id);
        this.#producersByType.set(t, list);
      }
    }
    this.edges = this.#computeEdges();
    for (const e of this.edges) this.#edgeIds.add(e.id);
  }

  /** Ids of services bound to a pattern matching this event type, in registry order. */
  consumersOf(eventType: string): string[] {
    let hit = this.#consumerCache.get(eventType);
    if (hit === undefined) {
      hit = [];
      for (const s of this.registry.services) {
        const patterns = this.#bindings.get(s.id) ?? [];
        if (patterns.some((p) => topicMatches(p, eventType))) hit.push(s.id);
      }
      if (this.#consumerCache.size > 5000) this.#consumerCache.clear();
      this.#consumerCache.set(eventType, hit);
    }
    return hit;
  }

  /** Services that declare they produce this exact type. */
  producersOf(eventType: string): string[] {
    return this.#producersByType.get(eventType) ?? [];
  }

  /**
   * Where a live event came from and went. The producer is the service named by
   * `source.app`; when the app is not registered, the declared producers of the type
   * stand in only if there is exactly one (otherwise we would be guessing).
   */
  route(eventType: string, app: string | undefined): { producer: string | null; consumers: string[] } {
    let producer = serviceForApp(this.registry, app)?.id ?? null;
    if (producer === null) {
      const declared = this.producersOf(eventType);
      if (declared.length === 1) producer = declared[0] ?? null;
    }
    return { producer, consumers: this.consumersOf(eventType) };
  }

  /** The drawn edges an event travels (only edges the registry predicts are drawn). */
  edgesFor(eventType: string, app: string | undefined): string[] {
    const { producer, consumers } = this.route(eventType, app);
    if (producer === null) return [];
    const out: string[] = [];
    for (const c of consumers) {
      const id = edgeId(producer, c);
      if (this.#edgeIds.has(id)) out.push(id);
    }
    return out;
  }

  #computeEdges(): TopologyEdge[] {
    const byId = new Map<string, TopologyEdge>();
    for (const producer of this.registry.services) {
      for (const type of producer.produces) {
        for (const consumer of this.consumersOf(type)) {
          // A service consuming its own output is a loop inside one box, not a link
          // between two; the node panel lists it instead.
          if (consumer === producer.id) continue;
          const id = edgeId(producer.id, consumer);
          let edge = byId.get(id);
          if (!edge) {
            edge = { id, from: producer.id, to: consumer, eventTypes: [] };
            byId.set(id, edge);
          }
          if (!edge.eventTypes.includes(type)) edge.eventTypes.push(type);
        }
      }
    }
    const edges = [...byId.values()];
    for (const e of edges) e.eventTypes.sort();
    return edges.sort((a, b) => a.id.localeCompare(b.id));
  }
}

export function edgeId(from: string, to: string): string {
  return `${from}->${to}`;
}

export function computeEdges(reg: Registry): TopologyEdge[] {
  return new TopologyIndex(reg).edges;
}

/** Types a service produces that nobody in the registry consumes (shown on the node). */
export function unconsumedTypes(index: TopologyIndex, service: RegistryService): string[] {
  return service.produces.filter((t) => index.consumersOf(t).every((c) => c === service.id));
}
