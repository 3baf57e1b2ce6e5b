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
export function layoutInput(reg: Registry): {
  groups: { id: string; label: string; members: LayoutNodeSeed[] }[];
} {
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
  const rest = reg.services
    .filter((s) => !placed.has(s.id))
    .map((s) => ({ id: s.id, kind: 'service' as const }));
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
const LABEL_H = 24;
const GAP_X = 44;
/** Room left and right of the widest band, so long links have a lane around it. */
const GUTTER = 40;
const GAP_Y = 18;
const BAND_GAP = 14;
const EXCHANGE_H = 40;

export function layoutTopology(
  reg: Registry,
  edges: TopologyEdge[],
  opts: LayoutOptions = {},
): TopologyLayout {
  const w = opts.nodeWidth ?? 236;
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
  const width = innerW + 2 * PAD + 2 * GUTTER;
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
  const routed = routeEdges(nodes, layoutGroups, edges);
  // A link between two nodes of the lowest band dips below it: keep it on the canvas.
  const lowest = routed.reduce((max, e) => Math.max(max, e.lowestY), 0);
  const height = Math.max(y - BAND_GAP + PAD, lowest + PAD);

  return {
    width,
    height,
    exchange: { x: PAD, y: PAD, w: width - 2 * PAD, h: EXCHANGE_H },
    groups: layoutGroups,
    nodes,
    edges: routed.map(({ lowestY: _drop, ...e }) => e),
  };
}

/**
 * Links between node borders. A link that skips bands passes each band in between
 * through the free lane (between nodes, or the gutter) nearest its straight line, so it
 * never runs across a node; several links through one lane are spread apart. Each
 * side's endpoints are spread along the node so links do not stack on one point.
 */
function routeEdges(
  nodes: LayoutNode[],
  groups: LayoutGroup[],
  edges: TopologyEdge[],
): (LayoutEdge & { lowestY: number })[] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const bandIndex = new Map(groups.map((g, i) => [g.id, i]));
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

  // Free lanes of each band: the x-ranges no node of the band occupies.
  const lanes = groups.map((g) => {
    const occupied = nodes
      .filter((n) => n.group === g.id)
      .map((n) => [n.x - 8, n.x + n.w + 8] as const)
      .sort((p, q) => p[0] - q[0]);
    const free: [number, number][] = [];
    let x = g.x + 4;
    for (const [lo, hi] of occupied) {
      if (lo > x) free.push([x, lo]);
      x = Math.max(x, hi);
    }
    if (g.x + g.w - 4 > x) free.push([x, g.x + g.w - 4]);
    return free;
  });
  type Pt = { x: number; y: number };
  const routes = plan.map(({ e, a, b, sa, sb }) => {
    const p0: Pt = { x: portX.get(sa)!, y: sa.side === 'bottom' ? a.y + a.h : a.y };
    const p1: Pt = { x: portX.get(sb)!, y: sb.side === 'bottom' ? b.y + b.h : b.y };
    const ia = bandIndex.get(a.group) ?? 0;
    const ib = bandIndex.get(b.group) ?? 0;
    const via: { band: number; lane: [number, number]; target: number }[] = [];
    const step = ib > ia ? 1 : -1;
    for (let k = ia + step; ib !== ia && k !== ib; k += step) {
      const t = (k - ia) / (ib - ia);
      const target = p0.x + (p1.x - p0.x) * t;
      let best: [number, number] | null = null;
      let bestD = Number.POSITIVE_INFINITY;
      for (const lane of lanes[k] ?? []) {
        const d = target < lane[0] ? lane[0] - target : target > lane[1] ? target - lane[1] : 0;
        if (d < bestD) {
          bestD = d;
          best = lane;
        }
      }
      if (best) via.push({ band: k, lane: best, target });
    }
    return { e, a, b, sa, sb, p0, p1, via };
  });
  // Spread the links sharing a lane evenly across it, in order of where they want to be.
  const byLane = new Map<
    string,
    { r: (typeof routes)[number]; v: (typeof routes)[number]['via'][number] }[]
  >();
  for (const r of routes) {
    for (const v of r.via) {
      const key = `${v.band}|${v.lane[0]}`;
      (byLane.get(key) ?? byLane.set(key, []).get(key)!).push({ r, v });
    }
  }
  const laneX = new Map<object, number>();
  for (const list of byLane.values()) {
    list.sort((p, q) => p.v.target - q.v.target);
    const [lo, hi] = list[0]!.v.lane;
    const n = list.length;
    const spread = Math.min(10, (hi - lo) / (n + 1));
    const half = ((n - 1) * spread) / 2;
    const mean = list.reduce((sum, x) => sum + x.v.target, 0) / n;
    const min = lo + 6 + half;
    const max = hi - 6 - half;
    const centre = min <= max ? Math.min(Math.max(mean, min), max) : (lo + hi) / 2;
    list.forEach(({ v }, i) => {
      laneX.set(v, centre + (i - (n - 1) / 2) * spread);
    });
  }

  return routes.map(({ e, sa, sb, p0, p1, via }) => {
    if (sa.side === 'bottom' && sb.side === 'bottom') {
      const dip = Math.max(p0.y, p1.y) + 28 + Math.min(60, Math.abs(p1.x - p0.x) / 6);
      const d = `M${r(p0.x)},${r(p0.y)} C${r(p0.x)},${r(dip)} ${r(p1.x)},${r(dip)} ${r(p1.x)},${r(p1.y)}`;
      return {
        id: e.id,
        from: e.from,
        to: e.to,
        d,
        mid: bezierMid(p0, { x: p0.x, y: dip }, { x: p1.x, y: dip }, p1),
        lowestY: dip,
      };
    }
    const down = sa.side === 'bottom';
    const pts: Pt[] = [p0];
    for (const v of via) {
      const g = groups[v.band]!;
      const x = laneX.get(v) ?? v.target;
      pts.push(down ? { x, y: g.y } : { x, y: g.y + g.h });
      pts.push(down ? { x, y: g.y + g.h } : { x, y: g.y });
    }
    pts.push(p1);
    // Vertical tangents at every point: straight through a lane, S-curves between bands.
    let d = `M${r(p0.x)},${r(p0.y)}`;
    let mid = { x: p0.x, y: p0.y };
    let longest = -1;
    for (let i = 1; i < pts.length; i++) {
      const q0 = pts[i - 1]!;
      const q1 = pts[i]!;
      const dy = (q1.y - q0.y) / 2;
      const c1 = { x: q0.x, y: q0.y + (i === 1 && Math.abs(dy) < 15 ? Math.sign(dy || 1) * 15 : dy) };
      const c2 = {
        x: q1.x,
        y: q1.y - (i === pts.length - 1 && Math.abs(dy) < 15 ? Math.sign(dy || 1) * 15 : dy),
      };
      d += ` C${r(c1.x)},${r(c1.y)} ${r(c2.x)},${r(c2.y)} ${r(q1.x)},${r(q1.y)}`;
      const len = Math.abs(q1.y - q0.y) + Math.abs(q1.x - q0.x);
      if (q0.x !== q1.x && len > longest) {
        longest = len;
        mid = bezierMid(q0, c1, c2, q1);
      }
    }
    if (longest < 0) mid = { x: r((p0.x + p1.x) / 2), y: r((p0.y + p1.y) / 2) };
    return { id: e.id, from: e.from, to: e.to, d, mid, lowestY: Math.max(...pts.map((p) => p.y)) };
  });
}

function bezierMid(
  p0: { x: number; y: number },
  c1: { x: number; y: number },
  c2: { x: number; y: number },
  p1: { x: number; y: number },
) {
  return { x: r((p0.x + 3 * c1.x + 3 * c2.x + p1.x) / 8), y: r((p0.y + 3 * c1.y + 3 * c2.y + p1.y) / 8) };
}

function r(n: number): number {
  return Math.round(n * 10) / 10;
}
