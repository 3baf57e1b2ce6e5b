import type { IR, NamedDef } from './ir.js';

/** Names an IR refers to. */
export function refsOf(ir: IR, out = new Set<string>()): Set<string> {
  switch (ir.k) {
    case 'ref':
      out.add(ir.name);
      break;
    case 'array':
      refsOf(ir.items, out);
      break;
    case 'union':
      for (const o of ir.options) refsOf(o, out);
      break;
    case 'object':
      for (const p of ir.props) refsOf(p.type, out);
      if (typeof ir.additional === 'object') refsOf(ir.additional, out);
      break;
    default:
      break;
  }
  return out;
}

/**
 * Definitions in dependency order (ties by name), so each is declared before it is used. In a
 * cycle of recursive definitions, the one reached first comes last; the generators refer to the
 * others lazily (see `recursiveNames`).
 */
export function topoOrder(defs: readonly NamedDef[]): NamedDef[] {
  const byName = new Map(defs.map((d) => [d.name, d]));
  const out: NamedDef[] = [];
  const state = new Map<string, 1 | 2>();
  const visit = (d: NamedDef): void => {
    // Visited (2) or on the current path (1, a recursive definition): nothing more to do.
    if (state.has(d.name)) return;
    state.set(d.name, 1);
    for (const r of [...refsOf(d.type)].sort()) {
      const dep = byName.get(r);
      if (dep) visit(dep);
    }
    state.set(d.name, 2);
    out.push(d);
  };
  for (const d of [...defs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) visit(d);
  return out;
}

/** Names of the definitions that refer to themselves, directly or through others (a cycle). */
export function recursiveNames(defs: readonly NamedDef[]): Set<string> {
  const byName = new Map(defs.map((d) => [d.name, d]));
  const out = new Set<string>();
  for (const d of defs) {
    const seen = new Set<string>();
    const stack = [...refsOf(d.type)];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (n === d.name) {
        out.add(d.name);
        break;
      }
      if (seen.has(n)) continue;
      seen.add(n);
      const dep = byName.get(n);
      if (dep) stack.push(...refsOf(dep.type));
    }
  }
  return out;
}
