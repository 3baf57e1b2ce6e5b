import { buildModel, type IR, type Lit, type Model } from '../generate/ir.js';
import type { SchemaRegistry } from '../schema/registry.js';

/**
 * Compatibility between two versions of a schema tree, as set inclusion of the instances each
 * schema accepts:
 * - backward: the new schema accepts everything the old one did (consumers on the new schema
 *   read old events): old ⊆ new.
 * - forward: the old schema accepts everything the new one does (consumers still on the old
 *   schema read new events): new ⊆ old.
 * - full: both.
 * Open content models (no `additionalProperties: false`) accept members they do not name, with
 * any value; that is what makes adding an optional member to an open schema backward-incompatible
 * and removing one forward-incompatible. The matrix is in docs/holyfields.md.
 */
export type CompatMode = 'backward' | 'forward' | 'full';

export interface BreakingChange {
  readonly eventType: string;
  readonly version: number;
  /** JSON pointer of the member that changed, in the event. */
  readonly pointer: string;
  readonly message: string;
  /** Which direction the change breaks. */
  readonly direction: 'backward' | 'forward';
}

export function checkCompatibility(
  next: SchemaRegistry,
  previous: SchemaRegistry,
  mode: CompatMode = 'backward',
): BreakingChange[] {
  const newModel = buildModel(next);
  const oldModel = buildModel(previous);
  const out: BreakingChange[] = [];
  const oldEvents = eventIndex(oldModel);
  const newEvents = eventIndex(newModel);
  for (const [key, oldName] of [...oldEvents.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const [eventType, v] = splitKey(key);
    const newName = newEvents.get(key);
    if (newName === undefined) {
      for (const direction of directions(mode)) {
        out.push({ eventType, version: v, pointer: '', message: 'schema removed', direction });
      }
      continue;
    }
    const oldIr = defType(oldModel, oldName);
    const newIr = defType(newModel, newName);
    if (mode !== 'forward') {
      for (const r of subset(oldIr, oldModel, newIr, newModel, '')) {
        out.push({ eventType, version: v, pointer: r.pointer, message: r.message, direction: 'backward' });
      }
    }
    if (mode !== 'backward') {
      for (const r of subset(newIr, newModel, oldIr, oldModel, '')) {
        out.push({ eventType, version: v, pointer: r.pointer, message: r.message, direction: 'forward' });
      }
    }
  }
  return out;
}

function directions(mode: CompatMode): ('backward' | 'forward')[] {
  return mode === 'full' ? ['backward', 'forward'] : [mode];
}

function eventIndex(model: Model): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of model.events) {
    for (const t of e.pattern !== undefined ? [e.pattern] : e.types) m.set(`${t}@${e.version}`, e.event);
  }
  return m;
}

function splitKey(key: string): [string, number] {
  const i = key.lastIndexOf('@');
  return [key.slice(0, i), Number(key.slice(i + 1))];
}

function defType(model: Model, name: string): IR {
  return model.defs.find((d) => d.name === name)?.type ?? { k: 'any' };
}

function deref(ir: IR, model: Model, depth = 0): IR {
  if (ir.k !== 'ref' || depth > 64) return ir;
  return deref(defType(model, ir.name), model, depth + 1);
}

interface Reason {
  pointer: string;
  message: string;
}

const ANY: IR = { k: 'any' };

function describe(ir: IR): string {
  switch (ir.k) {
    case 'literal':
      return ir.values.length === 1
        ? `const ${JSON.stringify(ir.values[0])}`
        : `enum ${JSON.stringify(ir.values)}`;
    case 'number':
      return ir.integer ? 'integer' : 'number';
    case 'union':
      return ir.options.map(describe).join(' | ');
    default:
      return ir.k;
  }
}

/** Pairs of definitions being compared, by name (`old` → `new`s): the recursion guard. */
type Visiting = Map<string, Set<string>>;

/**
 * Why some instance of `a` is not an instance of `b` (empty: every instance of `a` is one of `b`).
 * A recursive schema compares a definition with itself again further down: a pair of definitions
 * already being compared is assumed included (any difference is reported where it first occurs).
 */
export function subset(
  aIn: IR,
  am: Model,
  bIn: IR,
  bm: Model,
  pointer: string,
  visiting: Visiting = new Map(),
): Reason[] {
  if (aIn.k === 'ref' || bIn.k === 'ref') {
    const an = aIn.k === 'ref' ? aIn.name : '';
    const bn = bIn.k === 'ref' ? bIn.name : '';
    const key = `${an}\u0000${bn}`;
    // One side inline: the inline side is a finite tree, so only pairs of names can recur;
    // keyed by the node itself (an IR object) for the inline side.
    const seen = visiting.get(key) ?? new Set<string>();
    const other = an === '' ? aIn : bn === '' ? bIn : undefined;
    const tag = other === undefined ? '' : nodeId(other);
    if (seen.has(tag)) return [];
    seen.add(tag);
    visiting.set(key, seen);
    try {
      // One reference at a time, so each definition on the way is guarded.
      const step = (ir: IR, m: Model) => (ir.k === 'ref' ? defType(m, ir.name) : ir);
      return subset(step(aIn, am), am, step(bIn, bm), bm, pointer, visiting);
    } finally {
      seen.delete(tag);
    }
  }
  return subsetOf(aIn, am, bIn, bm, pointer, visiting);
}

const nodeIds = new WeakMap<object, string>();
let nextNodeId = 0;
function nodeId(o: object): string {
  let id = nodeIds.get(o);
  if (id === undefined) {
    id = String(++nextNodeId);
    nodeIds.set(o, id);
  }
  return id;
}

function subsetOf(a: IR, am: Model, b: IR, bm: Model, pointer: string, visiting: Visiting): Reason[] {
  const no = (message: string): Reason[] => [{ pointer, message }];
  if (b.k === 'any' || a.k === 'never') return [];
  if (a.k === 'union') return a.options.flatMap((o) => subset(o, am, b, bm, pointer, visiting));
  if (b.k === 'union') {
    if (a.k === 'literal') {
      const bad = a.values.filter((v) => !b.options.some((o) => accepts(deref(o, bm), bm, v)));
      return bad.length === 0 ? [] : no(`value(s) ${JSON.stringify(bad)} no longer allowed (${describe(b)})`);
    }
    const tries = b.options.map((o) => subset(a, am, o, bm, pointer, visiting));
    if (tries.some((t) => t.length === 0)) return [];
    return (
      tries.sort((x, y) => x.length - y.length)[0] ?? no(`type changed from ${describe(a)} to ${describe(b)}`)
    );
  }
  if (a.k === 'any') return no(`type narrowed from any value to ${describe(b)}`);
  if (a.k === 'literal') {
    const bad = a.values.filter((v) => !accepts(b, bm, v));
    if (bad.length === 0) return [];
    if (b.k === 'literal') return no(`${describe(a)} changed to ${describe(b)}`);
    return no(`value(s) ${JSON.stringify(bad)} not accepted by ${describe(b)}`);
  }
  if (b.k === 'literal') return no(`type narrowed from ${describe(a)} to ${describe(b)}`);
  if (b.k === 'never') return no('no value is accepted any more');
  if (a.k !== b.k) return no(`type changed from ${describe(a)} to ${describe(b)}`);
  switch (a.k) {
    case 'string': {
      const bs = b as typeof a;
      const r: Reason[] = [];
      if ((bs.minLength ?? 0) > (a.minLength ?? 0)) r.push(...no(`minLength raised to ${bs.minLength}`));
      if ((bs.maxLength ?? Infinity) < (a.maxLength ?? Infinity))
        r.push(...no(`maxLength lowered to ${bs.maxLength}`));
      for (const p of bs.patterns) if (!a.patterns.includes(p)) r.push(...no(`pattern ${p} added`));
      if (bs.format !== undefined && bs.format !== a.format) r.push(...no(`format ${bs.format} added`));
      return r;
    }
    case 'number': {
      const bn = b as typeof a;
      const r: Reason[] = [];
      if (bn.integer && !a.integer) r.push(...no('type narrowed from number to integer'));
      const lo = (x: typeof a) => Math.max(x.minimum ?? -Infinity, x.exclusiveMinimum ?? -Infinity);
      const hi = (x: typeof a) => Math.min(x.maximum ?? Infinity, x.exclusiveMaximum ?? Infinity);
      if (
        lo(bn) > lo(a) ||
        (bn.exclusiveMinimum !== undefined &&
          bn.exclusiveMinimum === lo(a) &&
          a.exclusiveMinimum === undefined)
      ) {
        r.push(...no(`lower bound raised to ${lo(bn)}`));
      }
      if (
        hi(bn) < hi(a) ||
        (bn.exclusiveMaximum !== undefined &&
          bn.exclusiveMaximum === hi(a) &&
          a.exclusiveMaximum === undefined)
      ) {
        r.push(...no(`upper bound lowered to ${hi(bn)}`));
      }
      if (bn.multipleOf !== undefined && (a.multipleOf === undefined || a.multipleOf % bn.multipleOf !== 0)) {
        r.push(...no(`multipleOf ${bn.multipleOf} added`));
      }
      return r;
    }
    case 'array': {
      const ba = b as typeof a;
      const r = subset(a.items, am, ba.items, bm, `${pointer}/items`, visiting);
      if ((ba.minItems ?? 0) > (a.minItems ?? 0)) r.push(...no(`minItems raised to ${ba.minItems}`));
      if ((ba.maxItems ?? Infinity) < (a.maxItems ?? Infinity))
        r.push(...no(`maxItems lowered to ${ba.maxItems}`));
      if (ba.unique && !a.unique) r.push(...no('uniqueItems added'));
      return r;
    }
    case 'object':
      return objectSubset(a, am, b as typeof a, bm, pointer, visiting);
    default:
      return [];
  }
}

type Obj = IR & { k: 'object' };

/** The schema a member named `name` has in `o`: its own, the additional-properties schema, or nothing allowed. */
function memberType(o: Obj, name: string): IR | 'absent' {
  const p = o.props.find((x) => x.name === name);
  if (p) return p.type;
  if (o.additional === 'allow') return ANY;
  if (o.additional === 'forbid') return 'absent';
  return o.additional;
}

function objectSubset(a: Obj, am: Model, b: Obj, bm: Model, pointer: string, visiting: Visiting): Reason[] {
  const r: Reason[] = [];
  const names = [...new Set([...a.props.map((p) => p.name), ...b.props.map((p) => p.name)])];
  for (const name of names) {
    const at = `${pointer}/${name.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    const aProp = a.props.find((p) => p.name === name);
    const bProp = b.props.find((p) => p.name === name);
    const aRequired = aProp?.required === true;
    const bRequired = bProp?.required === true;
    const aType = memberType(a, name);
    const bType = memberType(b, name);
    if (bRequired && !aRequired) {
      r.push({
        pointer: at,
        message: aProp ? 'optional member became required' : 'required member added',
      });
    }
    if (aType === 'absent') continue;
    if (bType === 'absent') {
      r.push({
        pointer: at,
        message: aProp
          ? `member '${name}' ${bProp ? '' : 'removed and '}not allowed by the closed content model`
          : `member '${name}' not allowed by the closed content model`,
      });
      continue;
    }
    if (!aProp && a.additional === 'allow' && bProp) {
      // In an open model, the old instances may carry this member with any value.
      const inner = subset(ANY, am, bType, bm, at, visiting);
      if (inner.length > 0) {
        r.push({
          pointer: at,
          message: `member '${name}' added with a type, but the open content model allowed it with any value`,
        });
      }
      continue;
    }
    r.push(...subset(aType, am, bType, bm, at, visiting));
  }
  // Members neither names: governed by additional properties on both sides.
  if (a.additional !== 'forbid') {
    const aExtra = a.additional === 'allow' ? ANY : a.additional;
    if (b.additional === 'forbid') {
      r.push({ pointer, message: 'content model closed (additionalProperties: false)' });
    } else if (typeof b.additional === 'object') {
      const inner = subset(aExtra, am, b.additional, bm, pointer, visiting);
      if (inner.length > 0) r.push({ pointer, message: 'additional members narrowed' });
    }
  }
  return r;
}

/** Whether `ir` accepts one literal value (for enums and consts). */
function accepts(ir: IR, m: Model, v: Lit): boolean {
  const t = deref(ir, m);
  switch (t.k) {
    case 'any':
      return true;
    case 'never':
      return false;
    case 'null':
      return v === null;
    case 'boolean':
      return typeof v === 'boolean';
    case 'literal':
      return t.values.some((x) => x === v);
    case 'string':
      return (
        typeof v === 'string' &&
        [...v].length >= (t.minLength ?? 0) &&
        [...v].length <= (t.maxLength ?? Infinity) &&
        t.patterns.every((p) => new RegExp(p, 'u').test(v))
      );
    case 'number':
      return (
        typeof v === 'number' &&
        (!t.integer || Number.isInteger(v)) &&
        v >= (t.minimum ?? -Infinity) &&
        v <= (t.maximum ?? Infinity) &&
        v > (t.exclusiveMinimum ?? -Infinity) &&
        v < (t.exclusiveMaximum ?? Infinity)
      );
    case 'union':
      return t.options.some((o) => accepts(o, m, v));
    default:
      return false;
  }
}
