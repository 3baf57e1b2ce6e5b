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
/** Most dot-separated words in a binding or filter pattern. */
export const MAX_PATTERN_WORDS = 32;
/** Most `*` and `#` words in a binding or filter pattern. */
export const MAX_PATTERN_WILDCARDS = 16;

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

/** Why a string is not a valid topic pattern, or null when it is one. */
export function patternProblem(value: unknown): string | null {
  if (typeof value !== 'string') return 'must be a string';
  if (value.length === 0) return 'must not be empty';
  if (value.length > MAX_ROUTING_KEY_LENGTH) return `must be at most ${MAX_ROUTING_KEY_LENGTH} characters`;
  const words = value.split('.');
  if (words.length > MAX_PATTERN_WORDS) return `must have at most ${MAX_PATTERN_WORDS} dot-separated words`;
  if (!words.every((w) => PATTERN_WORD_RE.test(w))) {
    return 'must be lowercase words of [a-z0-9_-], * or # separated by single dots';
  }
  const wildcards = words.filter((w) => w === '*' || w === '#').length;
  if (wildcards > MAX_PATTERN_WILDCARDS)
    return `must have at most ${MAX_PATTERN_WILDCARDS} wildcards (* and #)`;
  return null;
}

export function isValidPattern(value: unknown): value is string {
  return patternProblem(value) === null;
}

const LITERAL = 0;
const STAR = 1;
const HASH = 2;

/** A pattern as the matcher walks it: word kinds, and the words of the literal ones. */
interface CompiledPattern {
  readonly kinds: Uint8Array;
  readonly words: readonly string[];
}

/**
 * Compiles a pattern. Within a run of consecutive wildcards only the number of `*` and the
 * presence of a `#` matter (the run matches any k words, or at least k), so each run becomes
 * its `*` words followed by at most one `#`: `#.#` is `#`, `#.*.#` is `*.#`. A `#` is then
 * never followed by another wildcard, which keeps the state set of the matcher small.
 */
function compile(pattern: string): CompiledPattern {
  const kinds: number[] = [];
  const words: string[] = [];
  let stars = 0;
  let hash = false;
  const endRun = () => {
    for (; stars > 0; stars--) {
      kinds.push(STAR);
      words.push('*');
    }
    if (hash) {
      kinds.push(HASH);
      words.push('#');
    }
    hash = false;
  };
  for (const w of pattern.split('.')) {
    if (w === '*') stars++;
    else if (w === '#') hash = true;
    else {
      endRun();
      kinds.push(LITERAL);
      words.push(w);
    }
  }
  endRun();
  return { kinds: Uint8Array.from(kinds), words };
}

/**
 * Compiled patterns by their text. The broker and the live stream match every event
 * against the same few patterns, so each is split once; bounded, oldest out first.
 */
const compiled = new Map<string, CompiledPattern>();
const MAX_COMPILED = 1024;

function compiledPattern(pattern: string): CompiledPattern {
  let c = compiled.get(pattern);
  if (c === undefined) {
    c = compile(pattern);
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value as string);
    compiled.set(pattern, c);
  }
  return c;
}

/** Reachable states before and after the current key word; grown when a pattern needs more. */
let cur = new Uint8Array(64);
let next = new Uint8Array(64);
/** State transitions taken since the last reset, read by `topicMatchSteps`. */
let steps = 0;

/** Does a topic pattern (`*`, `#`) match a routing key? */
export function topicMatches(pattern: string, routingKey: string): boolean {
  if (pattern === '#') return true;
  if (!pattern.includes('*') && !pattern.includes('#')) return pattern === routingKey;
  return matchCompiled(compiledPattern(pattern), routingKey);
}

/**
 * How many state transitions `topicMatches` takes for this pattern and key: at most
 * (pattern words + 1) × (key words + 1), words counted after collapsing wildcard runs.
 * For tests of the bound; the fast paths count as 0.
 */
export function topicMatchSteps(pattern: string, routingKey: string): number {
  steps = 0;
  topicMatches(pattern, routingKey);
  return steps;
}

/**
 * Simulates the pattern as an automaton with no backtracking. State i means "the first i
 * pattern words are matched"; the set of reachable states is carried from one key word to
 * the next, so the work is bounded by pattern words × key words whatever the pattern.
 * A `#` state keeps itself on any word and also reaches the next state without one.
 */
function matchCompiled(p: CompiledPattern, key: string): boolean {
  const { kinds, words } = p;
  const m = kinds.length;
  // once a trailing `#` is reached, whatever is left of the key matches
  const trailingHash = kinds[m - 1] === HASH;
  if (cur.length <= m) {
    cur = new Uint8Array(m + 1);
    next = new Uint8Array(m + 1);
  }
  cur.fill(0, 0, m + 1);
  cur[0] = 1;
  for (let i = 0; i < m && cur[i] === 1 && kinds[i] === HASH; i++) {
    steps++;
    cur[i + 1] = 1;
  }
  if (trailingHash && cur[m] === 1) return true;
  let start = 0;
  for (;;) {
    const dot = key.indexOf('.', start);
    const end = dot === -1 ? key.length : dot;
    next.fill(0, 0, m + 1);
    let any = false;
    for (let i = 0; i < m; i++) {
      if (cur[i] === 1) {
        steps++;
        const kind = kinds[i];
        if (kind === HASH) next[i] = 1;
        else if (kind === STAR) next[i + 1] = 1;
        else {
          const w = words[i]!;
          if (w.length === end - start && key.startsWith(w, start)) next[i + 1] = 1;
        }
      }
      // next[i] is final here (set by state i - 1 or by state i): a `#` passes it on
      if (next[i] === 1) {
        any = true;
        if (kinds[i] === HASH) next[i + 1] = 1;
      }
    }
    if (next[m] === 1) {
      if (trailingHash) return true;
      any = true;
    }
    if (!any) return false;
    const t = cur;
    cur = next;
    next = t;
    if (dot === -1) return cur[m] === 1;
    start = dot + 1;
  }
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
