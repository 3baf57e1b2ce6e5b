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
  /**
   * True when the consumer gets these types only through a catch-all `#` binding (an
   * archiver or auditor). Such links say little about the design, so the view draws the
   * consumer's tap on the exchange instead and shows these links on focus.
   */
  catchAll: boolean;
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

  /**
   * Ids of services bound to a pattern matching this event type, in registry order. A
   * producer may declare a pattern (`webhook.plane.*.*`); then any binding that can
   * receive some key of that pattern counts.
   */
  consumersOf(eventType: string): string[] {
    let hit = this.#consumerCache.get(eventType);
    if (hit === undefined) {
      hit = [];
      const match = isPattern(eventType) ? patternsOverlap : topicMatches;
      for (const s of this.registry.services) {
        const patterns = this.#bindings.get(s.id) ?? [];
        if (patterns.some((p) => match(p, eventType))) hit.push(s.id);
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
            edge = { id, from: producer.id, to: consumer, eventTypes: [], catchAll: true };
            byId.set(id, edge);
          }
          if (!edge.eventTypes.includes(type)) edge.eventTypes.push(type);
          const match = isPattern(type) ? patternsOverlap : topicMatches;
          const matched = (this.#bindings.get(consumer) ?? []).filter((p) => match(p, type));
          if (matched.some((p) => p !== '#')) edge.catchAll = false;
        }
      }
    }
    const edges = [...byId.values()];
    for (const e of edges) e.eventTypes.sort();
    return edges.sort((a, b) => a.id.localeCompare(b.id));
  }
}

function isPattern(s: string): boolean {
  return s.includes('*') || s.includes('#');
}

/** Can some routing key match both topic patterns? (`*` one word, `#` zero or more.) */
export function patternsOverlap(a: string, b: string): boolean {
  const p = a.split('.');
  const q = b.split('.');
  const memo = new Map<number, boolean>();
  const go = (i: number, j: number): boolean => {
    const key = i * 1024 + j;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let r: boolean;
    if (i === p.length && j === q.length) r = true;
    else if (p[i] === '#') r = go(i + 1, j) || (j < q.length && go(i, j + 1));
    else if (q[j] === '#') r = go(i, j + 1) || (i < p.length && go(i + 1, j));
    else if (i === p.length || j === q.length) r = false;
    else r = (p[i] === q[j] || p[i] === '*' || q[j] === '*') && go(i + 1, j + 1);
    memo.set(key, r);
    return r;
  };
  return go(0, 0);
}

export function edgeId(from: string, to: string): string {
  return `${from}->${to}`;
}

export function computeEdges(reg: Registry): TopologyEdge[] {
  return new TopologyIndex(reg).edges;
}

/** Services bound with `#`: they receive every event on the exchange. */
export function catchAllConsumers(reg: Registry): string[] {
  return reg.services.filter((s) => consumerBindings(reg, s).some((b) => b.pattern === '#')).map((s) => s.id);
}

/** Types a service produces that nobody in the registry consumes (shown on the node). */
export function unconsumedTypes(index: TopologyIndex, service: RegistryService): string[] {
  return service.produces.filter((t) => index.consumersOf(t).every((c) => c === service.id));
}
