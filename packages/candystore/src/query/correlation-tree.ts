import type { StoredEvent } from '../storage/types.js';

export interface ChainNode {
  event: StoredEvent | null;
  event_id: string;
  children: ChainNode[];
  /** A parent that was never stored (referenced by a causation_id only). */
  missing: boolean;
  /** Milliseconds since the parent's timestamp; null for roots and children of missing parents. */
  delta_ms: number | null;
}

export interface CorrelationGap {
  missing_event_id: string;
  referenced_by: string[];
}

export interface CorrelationTree {
  roots: ChainNode[];
  gaps: CorrelationGap[];
}

/**
 * Builds the causation tree of a correlation group (events in timeline order). An event
 * whose parent is not in the group hangs under a `missing` node when the parent was never
 * stored (a gap), or becomes a root when the parent is stored elsewhere (`storedElsewhere`).
 * Causation cycles, which only bad data can make, are broken at the earliest event.
 */
export function buildCorrelationTree(
  timeline: readonly StoredEvent[],
  storedElsewhere: ReadonlySet<string> = new Set(),
): CorrelationTree {
  const nodes = new Map<string, ChainNode>();
  for (const e of timeline) {
    if (!nodes.has(e.event_id)) {
      nodes.set(e.event_id, { event: e, event_id: e.event_id, children: [], missing: false, delta_ms: null });
    }
  }
  const roots: ChainNode[] = [];
  const missing = new Map<string, { node: ChainNode; refs: string[] }>();
  const attached = new Set<string>();
  for (const e of timeline) {
    const node = nodes.get(e.event_id)!;
    if (attached.has(e.event_id)) continue;
    attached.add(e.event_id);
    const parentId = e.causation_id;
    if (!parentId || parentId === e.event_id) {
      roots.push(node);
      continue;
    }
    const parent = nodes.get(parentId);
    if (parent) {
      node.delta_ms = Date.parse(e.timestamp) - Date.parse(parent.event!.timestamp);
      parent.children.push(node);
      continue;
    }
    if (storedElsewhere.has(parentId)) {
      roots.push(node);
      continue;
    }
    let gap = missing.get(parentId);
    if (!gap) {
      gap = {
        node: { event: null, event_id: parentId, children: [], missing: true, delta_ms: null },
        refs: [],
      };
      missing.set(parentId, gap);
      roots.push(gap.node);
    }
    gap.node.children.push(node);
    gap.refs.push(e.event_id);
  }
  // Nodes in a causation cycle are unreachable from any root: attach the earliest as a root.
  const reachable = new Set<ChainNode>();
  const walk = (n: ChainNode) => {
    const stack = [n];
    while (stack.length) {
      const x = stack.pop()!;
      if (reachable.has(x)) continue;
      reachable.add(x);
      stack.push(...x.children);
    }
  };
  roots.forEach(walk);
  for (const e of timeline) {
    const node = nodes.get(e.event_id)!;
    if (reachable.has(node)) continue;
    for (const n of nodes.values()) n.children = n.children.filter((c) => c !== node);
    node.delta_ms = null;
    roots.push(node);
    walk(node);
  }
  return {
    roots,
    gaps: [...missing.entries()].map(([id, g]) => ({ missing_event_id: id, referenced_by: g.refs })),
  };
}
