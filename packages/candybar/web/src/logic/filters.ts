import { topicMatches } from '@33god/core';
import type { StoredEvent } from './types.js';

/** The live stream's filters, as they appear in the URL. */
export interface StreamFilter {
  /** Exact type or topic pattern (`*` one word, `#` any number of words). */
  type?: string;
  /** `source.app`, case-insensitive substring. */
  source?: string;
  correlation?: string;
  /** W3C trace id (32 hex digits). */
  trace?: string;
  /** Case-insensitive text anywhere in the payload. */
  text?: string;
}

export function isEmptyFilter(f: StreamFilter): boolean {
  return !f.type && !f.source && !f.correlation && !f.trace && !f.text;
}

/**
 * One predicate for all filters. A type without wildcards that is only a prefix
 * (e.g. `theboard.meeting`) also matches its sub-types, because that is what people
 * type into a search box; full topic patterns keep broker semantics.
 */
export function compileFilter(f: StreamFilter): (e: StoredEvent) => boolean {
  const checks: ((e: StoredEvent) => boolean)[] = [];
  const type = f.type?.trim().toLowerCase();
  if (type) {
    if (type.includes('*') || type.includes('#')) checks.push((e) => topicMatches(type, e.event_type));
    else checks.push((e) => e.event_type === type || e.event_type.startsWith(`${type}.`));
  }
  const source = f.source?.trim().toLowerCase();
  if (source) checks.push((e) => (e.source?.app ?? '').toLowerCase().includes(source));
  const corr = f.correlation?.trim().toLowerCase();
  if (corr) checks.push((e) => (e.correlation_id ?? '').toLowerCase() === corr);
  const trace = f.trace?.trim().toLowerCase();
  if (trace) checks.push((e) => e.trace_id === trace);
  const text = f.text?.trim().toLowerCase();
  if (text) {
    // Stringifying is the expensive part; remember it per event object.
    const cache = new WeakMap<object, string>();
    checks.push((e) => {
      let s = cache.get(e);
      if (s === undefined) {
        s = JSON.stringify(e.payload ?? null).toLowerCase();
        cache.set(e, s);
      }
      return s.includes(text);
    });
  }
  if (checks.length === 0) return () => true;
  return (e) => checks.every((c) => c(e));
}

/** Query parameters for Candystore's `GET /events` that express the same filter server-side. */
export function toStoreQuery(f: StreamFilter, limit: number): URLSearchParams {
  const q = new URLSearchParams();
  const type = f.type?.trim();
  if (type) q.set('type', type.includes('*') || type.includes('#') ? type : `${type}.#`);
  if (f.correlation?.trim()) q.set('correlation_id', f.correlation.trim());
  if (f.trace?.trim()) q.set('trace_id', f.trace.trim().toLowerCase());
  q.set('limit', String(limit));
  q.set('order', 'desc');
  return q;
}

/**
 * The live list: newest first, capped, de-duplicated by event id (a reconnect resumes
 * from the last position and may deliver an event twice), and pausable without loss:
 * while paused, arrivals are held and counted, and join the list on resume.
 */
export class EventBuffer {
  #items: StoredEvent[] = [];
  #pending: StoredEvent[] = [];
  #seen = new Set<string>();
  #paused = false;
  #received = 0;
  #dropped = 0;
  #version = 0;
  #listeners = new Set<() => void>();

  constructor(readonly cap: number) {}

  /** Called whenever `items` changes (for a list that re-renders alone). */
  subscribe(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #changed(): void {
    this.#version++;
    for (const fn of this.#listeners) fn();
  }

  get items(): readonly StoredEvent[] {
    return this.#items;
  }
  get pendingCount(): number {
    return this.#pending.length;
  }
  get paused(): boolean {
    return this.#paused;
  }
  /** Events accepted since creation (after de-duplication). */
  get received(): number {
    return this.#received;
  }
  /** Events that fell off the end of the capped list. */
  get dropped(): number {
    return this.#dropped;
  }
  /** Changes whenever `items` changes, for cheap re-render checks. */
  get version(): number {
    return this.#version;
  }

  /** Queue arrivals; they become visible on the next `flush` (one per animation frame). */
  push(events: readonly StoredEvent[]): void {
    for (const e of events) {
      if (this.#seen.has(e.event_id)) continue;
      this.#seen.add(e.event_id);
      this.#pending.push(e);
      this.#received++;
    }
    // The seen-set only needs to cover what a resume can repeat.
    if (this.#seen.size > this.cap * 4) {
      this.#seen = new Set([...this.#items, ...this.#pending].map((e) => e.event_id));
    }
    // Held events are bounded too: beyond the cap the oldest held ones would be cut anyway.
    if (this.#pending.length > this.cap) {
      const cut = this.#pending.length - this.cap;
      this.#pending.splice(0, cut);
      this.#dropped += cut;
    }
  }

  /** Older events (from a store query) appended at the end, newest first within them. */
  appendOlder(events: readonly StoredEvent[]): void {
    const fresh = events.filter((e) => !this.#seen.has(e.event_id));
    for (const e of fresh) this.#seen.add(e.event_id);
    if (fresh.length === 0) return;
    this.#items = this.#items.concat(fresh).slice(0, this.cap);
    this.#changed();
  }

  /** Move pending events into the list. Returns true if the list changed. */
  flush(): boolean {
    if (this.#paused || this.#pending.length === 0) return false;
    const incoming = this.#pending.reverse();
    this.#pending = [];
    const merged = incoming.concat(this.#items);
    if (merged.length > this.cap) {
      this.#dropped += merged.length - this.cap;
      merged.length = this.cap;
    }
    this.#items = merged;
    this.#changed();
    return true;
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.flush();
  }

  clear(): void {
    this.#items = [];
    this.#pending = [];
    this.#seen.clear();
    this.#changed();
  }
}
