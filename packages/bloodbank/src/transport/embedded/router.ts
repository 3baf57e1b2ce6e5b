import { topicMatches } from '@33god/core';
import type { ExchangeType } from '../transport.js';

const CACHE_LIMIT = 10_000;

/**
 * The bindings of one exchange and the queue names a routing key reaches. Topic
 * matching walks every binding once per distinct routing key; the answer is cached
 * until the bindings change, and the cache is bounded so that a producer inventing
 * keys cannot grow memory without limit.
 */
export class ExchangeRouter {
  readonly type: ExchangeType;
  /** queue -> patterns bound from this exchange */
  readonly #bindings = new Map<string, Set<string>>();
  readonly #cache = new Map<string, readonly string[]>();

  constructor(type: ExchangeType) {
    this.type = type;
  }

  bind(queue: string, pattern: string): void {
    let set = this.#bindings.get(queue);
    if (!set) {
      set = new Set();
      this.#bindings.set(queue, set);
    }
    if (!set.has(pattern)) {
      set.add(pattern);
      this.#cache.clear();
    }
  }

  unbind(queue: string, pattern: string): void {
    const set = this.#bindings.get(queue);
    if (!set?.delete(pattern)) return;
    if (set.size === 0) this.#bindings.delete(queue);
    this.#cache.clear();
  }

  removeQueue(queue: string): void {
    if (this.#bindings.delete(queue)) this.#cache.clear();
  }

  get cachedKeys(): number {
    return this.#cache.size;
  }

  patternsOf(queue: string): readonly string[] {
    return [...(this.#bindings.get(queue) ?? [])];
  }

  route(routingKey: string): readonly string[] {
    const hit = this.#cache.get(routingKey);
    if (hit) return hit;
    const out: string[] = [];
    for (const [queue, patterns] of this.#bindings) {
      for (const pattern of patterns) {
        if (this.#matches(pattern, routingKey)) {
          out.push(queue);
          break;
        }
      }
    }
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(routingKey, out);
    return out;
  }

  #matches(pattern: string, routingKey: string): boolean {
    switch (this.type) {
      case 'fanout':
        return true;
      case 'direct':
        return pattern === routingKey;
      case 'topic':
        return topicMatches(pattern, routingKey);
      default:
        return false;
    }
  }
}
