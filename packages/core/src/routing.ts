/**
 * Routing-key rules. The routing key of an event is its `event_type`:
 * lowercase words separated by dots, `{domain}.{entity}.{action}` by convention
 * (two-word types such as `agent.error` exist in the original tree and are accepted).
 * Binding patterns follow AMQP topic semantics: `*` matches exactly one word,
 * `#` matches zero or more words.
 */

const WORD = '[a-z0-9][a-z0-9_-]*';
const EVENT_TYPE_RE = new RegExp(`^${WORD}(?:\\.${WORD})+$`);
const PATTERN_WORD_RE = new RegExp(`^(?:${WORD}|\\*|#)$`);

/** AMQP limits a routing key to 255 bytes. */
export const MAX_ROUTING_KEY_LENGTH = 255;

export function isValidEventType(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_ROUTING_KEY_LENGTH && EVENT_TYPE_RE.test(value);
}

/** Why a string is not a valid event type, or null when it is one. */
export function eventTypeProblem(value: unknown): string | null {
  if (typeof value !== 'string') return 'must be a string';
  if (value.length === 0) return 'must not be empty';
  if (value.length > MAX_ROUTING_KEY_LENGTH) return `must be at most ${MAX_ROUTING_KEY_LENGTH} characters`;
  if (value !== value.toLowerCase()) return 'must be lowercase';
  if (!value.includes('.')) return 'must have at least two dot-separated words ({domain}.{entity}.{action})';
  if (!EVENT_TYPE_RE.test(value)) return 'must be lowercase words of [a-z0-9_-] separated by single dots';
  return null;
}

export function isValidPattern(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ROUTING_KEY_LENGTH) return false;
  return value.split('.').every((w) => PATTERN_WORD_RE.test(w));
}

/** Does a topic pattern (`*`, `#`) match a routing key? */
export function topicMatches(pattern: string, routingKey: string): boolean {
  if (pattern === '#') return true;
  if (!pattern.includes('*') && !pattern.includes('#')) return pattern === routingKey;
  return matchWords(pattern.split('.'), 0, routingKey.split('.'), 0);
}

function matchWords(p: readonly string[], pi: number, k: readonly string[], ki: number): boolean {
  while (pi < p.length) {
    const word = p[pi];
    if (word === '#') {
      if (pi === p.length - 1) return true;
      for (let j = ki; j <= k.length; j++) {
        if (matchWords(p, pi + 1, k, j)) return true;
      }
      return false;
    }
    if (ki >= k.length) return false;
    if (word !== '*' && word !== k[ki]) return false;
    pi++;
    ki++;
  }
  return ki === k.length;
}

/**
 * A reusable matcher for many patterns against many keys (the embedded broker's
 * exchange, the dashboard's edge computation). Results are cached per key.
 */
export class PatternSet {
  readonly #patterns: string[];
  readonly #cache = new Map<string, boolean>();
  constructor(patterns: Iterable<string>) {
    this.#patterns = [...patterns];
  }
  get patterns(): readonly string[] {
    return this.#patterns;
  }
  matches(routingKey: string): boolean {
    let hit = this.#cache.get(routingKey);
    if (hit === undefined) {
      hit = this.#patterns.some((p) => topicMatches(p, routingKey));
      if (this.#cache.size > 10_000) this.#cache.clear();
      this.#cache.set(routingKey, hit);
    }
    return hit;
  }
}
