import type { ChainGap, ChainNode, StoredEvent } from './types.js';

/**
 * Event chains: the correlation group as a causation tree, and the same tree flattened
 * into rows for the waterfall (one row per event, in causal order, with its offset from
 * the first event and the time since its cause).
 */

const ts = (e: StoredEvent): number => Date.parse(e.timestamp);

function byTime(a: ChainNode, b: ChainNode): number {
  const ta = a.event ? ts(a.event) : firstTime(a);
  const tb = b.event ? ts(b.event) : firstTime(b);
  return ta - tb || a.event_id.localeCompare(b.event_id);
}

function firstTime(n: ChainNode): number {
  if (n.event) return ts(n.event);
  let min = Number.POSITIVE_INFINITY;
  for (const c of n.children) min = Math.min(min, firstTime(c));
  return min;
}

/**
 * Builds the causation tree from a correlation group's events. An event whose cause is
 * not in the group hangs under a placeholder marked `missing` (a gap: the cause was never
 * stored, or belongs to another correlation), so nothing silently floats to the top.
 */
export function buildChain(events: readonly StoredEvent[]): { roots: ChainNode[]; gaps: ChainGap[] } {
  const nodes = new Map<string, ChainNode>();
  for (const e of events) {
    if (!nodes.has(e.event_id))
      nodes.set(e.event_id, { event: e, event_id: e.event_id, children: [], missing: false, delta_ms: null });
  }
  const roots: ChainNode[] = [];
  const missing = new Map<string, ChainNode>();
  const referencedBy = new Map<string, string[]>();
  for (const node of nodes.values()) {
    const e = node.event!;
    const cause = e.causation_id;
    if (!cause || cause === e.event_id) {
      roots.push(node);
      continue;
    }
    const parent = nodes.get(cause);
    if (parent) {
      parent.children.push(node);
      node.delta_ms = ts(e) - ts(parent.event!);
      continue;
    }
    let gap = missing.get(cause);
    if (!gap) {
      gap = { event: null, event_id: cause, children: [], missing: true, delta_ms: null };
      missing.set(cause, gap);
      roots.push(gap);
    }
    gap.children.push(node);
    (referencedBy.get(cause) ?? referencedBy.set(cause, []).get(cause)!).push(e.event_id);
  }
  // A causation cycle (a→b→a) leaves its members unreachable from any root: surface them.
  const reachable = new Set<string>();
  const walk = (n: ChainNode) => {
    if (reachable.has(n.event_id)) return;
    reachable.add(n.event_id);
    for (const c of n.children) walk(c);
  };
  for (const r of roots) walk(r);
  for (const n of nodes.values()) {
    if (!reachable.has(n.event_id)) {
      n.children = n.children.filter((c) => !reachable.has(c.event_id));
      roots.push(n);
      walk(n);
    }
  }
  sortTree(roots);
  const gaps = [...referencedBy.entries()].map(([missing_event_id, ids]) => ({
    missing_event_id,
    referenced_by: ids.sort(),
  }));
  return { roots, gaps };
}

function sortTree(list: ChainNode[], seen = new Set<ChainNode>()): void {
  list.sort(byTime);
  for (const n of list) {
    if (seen.has(n)) continue;
    seen.add(n);
    sortTree(n.children, seen);
  }
}

export interface ChainRow {
  eventId: string;
  event: StoredEvent | null;
  missing: boolean;
  depth: number;
  /** For each ancestor level: does a vertical tree guide continue past this row? */
  guides: boolean[];
  isLast: boolean;
  /** Time since the first event of the chain; for a missing cause, its first child's. */
  offsetMs: number;
  /** Time since the cause (null for roots and for causes that are missing). */
  deltaMs: number | null;
  /** Offset of the cause, where the waterfall's connector starts. */
  parentOffsetMs: number | null;
  descendants: number;
}

/** Depth-first rows in time order, with the geometry the tree and the waterfall need. */
export function flattenChain(roots: readonly ChainNode[]): ChainRow[] {
  let t0 = Number.POSITIVE_INFINITY;
  for (const r of roots) t0 = Math.min(t0, firstTime(r));
  if (!Number.isFinite(t0)) t0 = 0;
  const rows: ChainRow[] = [];
  const visited = new Set<ChainNode>();
  const visit = (
    n: ChainNode,
    depth: number,
    guides: boolean[],
    isLast: boolean,
    parentOffset: number | null,
  ): number => {
    if (visited.has(n)) return 0;
    visited.add(n);
    const offsetMs = (n.event ? ts(n.event) : firstTime(n)) - t0;
    const row: ChainRow = {
      eventId: n.event_id,
      event: n.event,
      missing: n.missing || n.event === null,
      depth,
      guides,
      isLast,
      offsetMs: Number.isFinite(offsetMs) ? offsetMs : 0,
      deltaMs: n.delta_ms ?? (parentOffset !== null && n.event ? offsetMs - parentOffset : null),
      parentOffsetMs: parentOffset,
      descendants: 0,
    };
    rows.push(row);
    const kids = [...n.children].sort(byTime);
    let count = 0;
    kids.forEach((c, i) => {
      const last = i === kids.length - 1;
      count +=
        1 + visit(c, depth + 1, [...guides, !isLast && depth > 0], last, row.missing ? null : row.offsetMs);
    });
    row.descendants = count;
    return count;
  };
  const sorted = [...roots].sort(byTime);
  sorted.forEach((r, i) => {
    visit(r, 0, [], i === sorted.length - 1, null);
  });
  return rows;
}

export interface ChainSummary {
  events: number;
  missing: number;
  spanMs: number;
  maxDepth: number;
  /** The row with the longest wait after its cause: where the chain spent its time. */
  slowest: ChainRow | null;
  sources: string[];
  types: string[];
}

export function summarizeChain(rows: readonly ChainRow[]): ChainSummary {
  let slowest: ChainRow | null = null;
  let span = 0;
  let maxDepth = 0;
  const sources = new Set<string>();
  const types = new Set<string>();
  for (const r of rows) {
    span = Math.max(span, r.offsetMs);
    maxDepth = Math.max(maxDepth, r.depth);
    if (r.deltaMs !== null && (slowest === null || r.deltaMs > (slowest.deltaMs ?? 0))) slowest = r;
    if (r.event) {
      if (r.event.source?.app) sources.add(r.event.source.app);
      types.add(r.event.event_type);
    }
  }
  return {
    events: rows.filter((r) => !r.missing).length,
    missing: rows.filter((r) => r.missing).length,
    spanMs: span,
    maxDepth,
    slowest,
    sources: [...sources].sort(),
    types: [...types].sort(),
  };
}

/** Round tick positions for a time axis of `spanMs`, about `count` of them. */
export function timeTicks(spanMs: number, count = 6): number[] {
  if (spanMs <= 0) return [0];
  const raw = spanMs / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let t = 0; t <= spanMs + 1e-9; t += step) out.push(Math.round(t * 1000) / 1000);
  return out;
}

export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '–';
  const abs = Math.abs(ms);
  const sign = ms < 0 ? '−' : '';
  if (abs < 1) return `${sign}${abs.toFixed(2)} ms`;
  if (abs < 1000) return `${sign}${Math.round(abs)} ms`;
  if (abs < 60_000) return `${sign}${(abs / 1000).toFixed(abs < 10_000 ? 2 : 1)} s`;
  if (abs < 3_600_000) return `${sign}${Math.floor(abs / 60_000)} min ${Math.round((abs % 60_000) / 1000)} s`;
  return `${sign}${(abs / 3_600_000).toFixed(1)} h`;
}

/** A stable colour per service, so the same producer reads the same along a chain. */
export function serviceColor(app: string | undefined): string {
  let h = 0;
  for (const ch of app ?? '') h = (h * 31 + ch.charCodeAt(0)) % 360;
  return `hsl(${h} 60% 52%)`;
}

export interface CorrelationGroup {
  id: string;
  count: number;
  /** Event types in the order first seen (newest event first). */
  types: string[];
  /** Timestamp of the newest event. */
  last: string;
}

/**
 * The correlation groups among recent events, newest activity first, split into chains
 * (two events or more) and lone events. Most lone events are bookkeeping, such as the
 * store's `candystore.event.persisted` summaries, each with a correlation of its own; listed
 * together with the chains, they pushed every chain off the first screen.
 */
export function groupCorrelations(events: readonly StoredEvent[]): {
  chains: CorrelationGroup[];
  singles: CorrelationGroup[];
} {
  const groups = new Map<string, CorrelationGroup>();
  for (const e of events) {
    if (!e.correlation_id) continue;
    let g = groups.get(e.correlation_id);
    if (!g) {
      g = { id: e.correlation_id, count: 0, types: [], last: e.timestamp };
      groups.set(e.correlation_id, g);
    }
    g.count++;
    if (!g.types.includes(e.event_type)) g.types.push(e.event_type);
    if (Date.parse(e.timestamp) > Date.parse(g.last)) g.last = e.timestamp;
  }
  const all = [...groups.values()].sort((a, b) => Date.parse(b.last) - Date.parse(a.last));
  return { chains: all.filter((g) => g.count > 1), singles: all.filter((g) => g.count === 1) };
}

/** The distinct trace ids of a chain's events, in order of first appearance. */
export function chainTraceIds(events: readonly { trace_id?: string | null }[]): string[] {
  const out: string[] = [];
  for (const e of events) if (e.trace_id && !out.includes(e.trace_id)) out.push(e.trace_id);
  return out;
}

/** The external trace UI's link for `traceId`, from a `{trace_id}` template; null without one. */
export function traceLink(template: string | null | undefined, traceId: string): string | null {
  if (!template) return null;
  return template.replaceAll('{trace_id}', encodeURIComponent(traceId));
}
