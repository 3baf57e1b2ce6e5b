import type { Registry } from './registry.js';
import type { TopologyEdge } from './topology.js';

/**
 * Topology layout: one horizontal band per registry layer (in the registry's order),
 * services not in any layer in a last band, the exchange as a bus across the top.
 * Inside a band, nodes are ordered by the barycenter of their neighbours in other
 * bands (a few up/down sweeps), which is enough to keep 20-40 services readable and is
 * deterministic and instant, so the first paint does not wait for a layout engine.
 */

export interface LayoutNode {
  id: string;
  kind: 'service' | 'external';
  group: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface LayoutGroup {
  id: string;
  label: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface LayoutEdge {
  id: string;
  from: string;
  to: string;
  /** SVG path data. */
  d: string;
  /** Midpoint of the curve, for the rate label. */
  mid: { x: number; y: number };
}

export interface TopologyLayout {
  width: number;
  height: number;
  exchange: { x: number; y: number; w: number; h: number };
  groups: LayoutGroup[];
  nodes: LayoutNode[];
  edges: LayoutEdge[];
}

export interface LayoutOptions {
  nodeWidth?: number;
  nodeHeight?: number;
  maxPerRow?: number;
  /** Crossing-reduction passes (each one down and one up); 0 keeps the registry's order. */
  sweeps?: number;
}

export const UNLAYERED_GROUP = 'unlayered';

/** The band each node goes in: services and the registry's non-service layer entries. */
export function layoutInput(reg: Registry): { groups: { id: string; label: string; members: LayoutNodeSeed[] }[] } {
  const known = new Set(reg.services.map((s) => s.id));
  const placed = new Set<string>();
  const groups: { id: string; label: string; members: LayoutNodeSeed[] }[] = [];
  for (const [layer, ids] of Object.entries(reg.layers)) {
    const members: LayoutNodeSeed[] = [];
    for (const id of ids) {
      if (known.has(id)) {
        if (placed.has(id)) continue; // a service listed in two layers is drawn once, in the first
        placed.add(id);
        members.push({ id, kind: 'service' });
      } else {
        members.push({ id: externalId(id), kind: 'external' });
      }
    }
    if (members.length > 0) groups.push({ id: layer, label: humanize(layer), members });
  }
  const rest = reg.services.filter((s) => !placed.has(s.id)).map((s) => ({ id: s.id, kind: 'service' as const }));
  if (rest.length > 0) groups.push({ id: UNLAYERED_GROUP, label: 'Not in a registry layer', members: rest });
  return { groups };
}

export interface LayoutNodeSeed {
  id: string;
  kind: 'service' | 'external';
}

export function externalId(name: string): string {
  return `external:${name}`;
}

export function humanize(layer: string): string {
  const s = layer.replaceAll('_', ' ').replaceAll('-', ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

const PAD = 16;
const LABEL_H = 26;
const GAP_X = 26;
const GAP_Y = 22;
const BAND_GAP = 30;
const EXCHANGE_H = 40;

export function layoutTopology(reg: Registry, edges: TopologyEdge[], opts: LayoutOptions = {}): TopologyLayout {
  const w = opts.nodeWidth ?? 200;
  const h = opts.nodeHeight ?? 56;
  const perRow = Math.max(1, opts.maxPerRow ?? 5);
  const { groups } = layoutInput(reg);

  const bandOf = new Map<string, number>();
  groups.forEach((g, i) => {
    for (const m of g.members) bandOf.set(m.id, i);
  });
  const neighbours = new Map<string, string[]>();
  for (const e of edges) {
    if (!bandOf.has(e.from) || !bandOf.has(e.to)) continue;
    (neighbours.get(e.from) ?? neighbours.set(e.from, []).get(e.from)!).push(e.to);
    (neighbours.get(e.to) ?? neighbours.set(e.to, []).get(e.to)!).push(e.from);
  }

  // Crossing reduction: order each band by the mean slot of its neighbours elsewhere.
  const orders = groups.map((g) => g.members.map((m) => m.id));
  const slot = new Map<string, number>();
  const assignSlots = () => {
    for (const order of orders) {
      const rowLen = Math.min(perRow, order.length);
      order.forEach((id, i) => {
        // Centre each row so slots are comparable across bands of different widths.
        slot.set(id, (i % perRow) - (rowLen - 1) / 2);
      });
    }
  };
  assignSlots();
  const sweep = (band: number) => {
    const order = orders[band]!;
    const keyed = order.map((id, i) => {
      const ns = (neighbours.get(id) ?? []).filter((n) => bandOf.get(n) !== band);
      // A node without links elsewhere keeps its own slot as its key, so it stays roughly put.
      const bc = ns.length === 0 ? slot.get(id)! : ns.reduce((s, n) => s + (slot.get(n) ?? 0), 0) / ns.length;
      return { id, i, bc };
    });
    keyed.sort((a, b) => a.bc - b.bc || a.i - b.i);
    orders[band] = keyed.map((k) => k.id);
    assignSlots();
  };
  // Total horizontal distance covered by links, in slots: what the sweeps try to reduce.
  const cost = () => {
    let sum = 0;
    for (const e of edges) {
      const a = slot.get(e.from);
      const b = slot.get(e.to);
      if (a !== undefined && b !== undefined) sum += Math.abs(a - b);
    }
    return sum;
  };
  let best = { cost: cost(), orders: orders.map((o) => [...o]) };
  for (let pass = 0; pass < (opts.sweeps ?? 4); pass++) {
    for (let b = 0; b < orders.length; b++) sweep(b);
    for (let b = orders.length - 1; b >= 0; b--) sweep(b);
    const c = cost();
    if (c < best.cost) best = { cost: c, orders: orders.map((o) => [...o]) };
  }
  // Sweeps can oscillate; keep the best ordering seen, never one worse than the registry's.
  best.orders.forEach((o, i) => {
    orders[i] = o;
  });
  assignSlots();

  const widest = Math.max(1, ...orders.map((o) => Math.min(perRow, o.length)));
  const innerW = widest * w + (widest - 1) * GAP_X;
  const width = innerW + 2 * PAD + 2 * PAD;
  const nodes: LayoutNode[] = [];
  const layoutGroups: LayoutGroup[] = [];
  let y = PAD + EXCHANGE_H + BAND_GAP;
  groups.forEach((g, band) => {
    const order = orders[band]!;
    const rows = Math.ceil(order.length / perRow);
    const bandH = LABEL_H + rows * h + (rows - 1) * GAP_Y + PAD;
    layoutGroups.push({ id: g.id, label: g.label, x: PAD, y, w: width - 2 * PAD, h: bandH });
    order.forEach((id, i) => {
      const row = Math.floor(i / perRow);
      const inRow = Math.min(perRow, order.length - row * perRow);
      const rowW = inRow * w + (inRow - 1) * GAP_X;
      const x0 = (width - rowW) / 2;
      const kind = g.members.find((m) => m.id === id)?.kind ?? 'service';
      nodes.push({
        id,
        kind,
        group: g.id,
        x: x0 + (i % perRow) * (w + GAP_X),
        y: y + LABEL_H + row * (h + GAP_Y),
        w,
        h,
      });
    });
    y += bandH + BAND_GAP;
  });
  const height = y - BAND_GAP + PAD;

  return {
    width,
    height,
    exchange: { x: PAD, y: PAD, w: width - 2 * PAD, h: EXCHANGE_H },
    groups: layoutGroups,
    nodes,
    edges: routeEdges(nodes, edges),
  };
}

/** Curves between node borders, with each side's endpoints spread so edges do not stack. */
function routeEdges(nodes: LayoutNode[], edges: TopologyEdge[]): LayoutEdge[] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  type End = { edge: string; node: LayoutNode; side: 'top' | 'bottom'; otherX: number };
  const ends = new Map<string, End[]>();
  const plan: { e: TopologyEdge; a: LayoutNode; b: LayoutNode; sa: End; sb: End }[] = [];
  const addEnd = (end: End) => {
    const key = `${end.node.id}|${end.side}`;
    (ends.get(key) ?? ends.set(key, []).get(key)!).push(end);
  };
  for (const e of edges) {
    const a = byId.get(e.from);
    const b = byId.get(e.to);
    if (!a || !b) continue;
    const sameRow = a.y === b.y;
    const down = b.y > a.y;
    const sa: End = { edge: e.id, node: a, side: sameRow || down ? 'bottom' : 'top', otherX: b.x + b.w / 2 };
    const sb: End = { edge: e.id, node: b, side: sameRow || !down ? 'bottom' : 'top', otherX: a.x + a.w / 2 };
    addEnd(sa);
    addEnd(sb);
    plan.push({ e, a, b, sa, sb });
  }
  const portX = new Map<End, number>();
  for (const list of ends.values()) {
    list.sort((p, q) => p.otherX - q.otherX || p.edge.localeCompare(q.edge));
    list.forEach((end, i) => {
      portX.set(end, end.node.x + (end.node.w * (i + 1)) / (list.length + 1));
    });
  }
  return plan.map(({ e, a, b, sa, sb }) => {
    const x1 = portX.get(sa)!;
    const x2 = portX.get(sb)!;
    const y1 = sa.side === 'bottom' ? a.y + a.h : a.y;
    const y2 = sb.side === 'bottom' ? b.y + b.h : b.y;
    let c1y: number;
    let c2y: number;
    if (sa.side === 'bottom' && sb.side === 'bottom') {
      const dip = Math.max(y1, y2) + 28 + Math.min(60, Math.abs(x2 - x1) / 6);
      c1y = dip;
      c2y = dip;
    } else {
      const dy = Math.max(30, Math.abs(y2 - y1) / 2);
      c1y = sa.side === 'bottom' ? y1 + dy : y1 - dy;
      c2y = sb.side === 'bottom' ? y2 + dy : y2 - dy;
    }
    const d = `M${r(x1)},${r(y1)} C${r(x1)},${r(c1y)} ${r(x2)},${r(c2y)} ${r(x2)},${r(y2)}`;
    const mid = { x: r((x1 + 3 * x1 + 3 * x2 + x2) / 8), y: r((y1 + 3 * c1y + 3 * c2y + y2) / 8) };
    return { id: e.id, from: e.from, to: e.to, d, mid };
  });
}

function r(n: number): number {
  return Math.round(n * 10) / 10;
}
