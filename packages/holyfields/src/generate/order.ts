import { AppError } from '@33god/core';
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

/** Definitions in dependency order (ties by name), so each is declared before it is used. */
export function topoOrder(defs: readonly NamedDef[]): NamedDef[] {
  const byName = new Map(defs.map((d) => [d.name, d]));
  const out: NamedDef[] = [];
  const state = new Map<string, 1 | 2>();
  const visit = (d: NamedDef, path: string[]): void => {
    const st = state.get(d.name);
    if (st === 2) return;
    if (st === 1) {
      throw new AppError(
        'SCHEMA_INVALID',
        `${d.file}: recursive definitions are not supported by the generators (${[...path, d.name].join(' → ')})`,
        { extra: { file: d.file } },
      );
    }
    state.set(d.name, 1);
    for (const r of [...refsOf(d.type)].sort()) {
      const dep = byName.get(r);
      if (dep) visit(dep, [...path, d.name]);
    }
    state.set(d.name, 2);
    out.push(d);
  };
  for (const d of [...defs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) visit(d, []);
  return out;
}
