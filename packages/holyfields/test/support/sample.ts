import fc from 'fast-check';
import { canonicalJson, type IR, type Model } from '../../src/generate/ir.js';

/**
 * fast-check arbitraries for the instances a schema accepts, built from the generators' model
 * of the schema. Ajv is the oracle in the tests: every sample must pass Ajv too, so a mistake
 * here shows up as a failing test rather than agreeing with the generators by construction.
 */
export function arbitraryFor(ir: IR, model: Model): fc.Arbitrary<unknown> {
  const memo = new Map<string, fc.Arbitrary<unknown>>();
  const of = (t: IR): fc.Arbitrary<unknown> => {
    switch (t.k) {
      case 'any':
        return fc.constantFrom(null, 1, 'x', true, { a: 1 }, [1, 'b']);
      case 'never':
        return fc.constant(Symbol('never'));
      case 'null':
        return fc.constant(null);
      case 'boolean':
        return fc.boolean();
      case 'literal':
        return fc.constantFrom(...t.values);
      case 'string':
        return stringArb(t);
      case 'number':
        return numberArb(t);
      case 'array': {
        const min = t.minItems ?? 0;
        const max = Math.min(t.maxItems ?? min + 3, min + 3);
        return t.unique
          ? fc.uniqueArray(of(t.items), { minLength: min, maxLength: max, selector: canonicalJson })
          : fc.array(of(t.items), { minLength: min, maxLength: max });
      }
      case 'object': {
        const shape: Record<string, fc.Arbitrary<unknown>> = {};
        for (const p of t.props) shape[p.name] = of(p.type);
        const required = t.props.filter((p) => p.required).map((p) => p.name);
        let base: fc.Arbitrary<Record<string, unknown>> = fc.record(shape, { requiredKeys: required });
        if (t.additional !== 'forbid' && !t.props.some((p) => p.name === 'zz_extra')) {
          const extra = t.additional === 'allow' ? fc.constantFrom('kept', 7, null) : of(t.additional);
          base = fc
            .tuple(base, fc.option(extra, { nil: undefined }))
            .map(([o, x]) => (x === undefined ? o : { ...o, zz_extra: x }));
        }
        return base;
      }
      case 'union':
        return fc.oneof(...t.options.map(of));
      case 'ref': {
        let a = memo.get(t.name);
        if (!a) {
          const def = model.defs.find((d) => d.name === t.name);
          if (!def) throw new Error(`no definition ${t.name}`);
          a = of(def.type);
          memo.set(t.name, a);
        }
        return a;
      }
    }
  };
  return of(ir);
}

function stringArb(t: IR & { k: 'string' }): fc.Arbitrary<string> {
  const min = t.minLength ?? 0;
  const max = t.maxLength ?? Number.POSITIVE_INFINITY;
  const len = (s: string) => [...s].length;
  let a: fc.Arbitrary<string>;
  switch (t.format) {
    case 'uuid':
      a = fc.uuid();
      break;
    case 'date-time':
      a = fc
        .date({
          min: new Date('1970-01-01T00:00:00Z'),
          max: new Date('2100-01-01T00:00:00Z'),
          noInvalidDate: true,
        })
        .map((d) => d.toISOString());
      break;
    case 'date':
      a = fc
        .date({
          min: new Date('1970-01-01T00:00:00Z'),
          max: new Date('2100-01-01T00:00:00Z'),
          noInvalidDate: true,
        })
        .map((d) => d.toISOString().slice(0, 10));
      break;
    case 'uri':
      a = fc.stringMatching(/^[a-z0-9]{0,12}$/).map((p) => `https://example.com/${p}`);
      break;
    case 'email':
      a = fc.stringMatching(/^[a-z]{1,8}$/).map((p) => `${p}@example.com`);
      break;
    default:
      if (t.patterns.length > 0) a = fc.stringMatching(new RegExp(t.patterns[0]!, 'u'));
      else a = fc.string({ minLength: min, maxLength: Math.min(max, min + 24) });
  }
  const rest = t.patterns.map((p) => new RegExp(p, 'u'));
  return a.filter((s) => len(s) >= min && len(s) <= max && rest.every((r) => r.test(s)));
}

function numberArb(t: IR & { k: 'number' }): fc.Arbitrary<number> {
  let lo = Math.max(t.minimum ?? -1e6, t.exclusiveMinimum !== undefined ? t.exclusiveMinimum : -Infinity);
  let hi = Math.min(t.maximum ?? 1e6, t.exclusiveMaximum !== undefined ? t.exclusiveMaximum : Infinity);
  if (t.minimum === undefined && t.exclusiveMinimum === undefined) lo = Math.min(lo, hi - 1e6);
  if (t.maximum === undefined && t.exclusiveMaximum === undefined) hi = Math.max(hi, lo + 1e6);
  const okEx = (n: number) =>
    (t.exclusiveMinimum === undefined || n > t.exclusiveMinimum) &&
    (t.exclusiveMaximum === undefined || n < t.exclusiveMaximum) &&
    (t.multipleOf === undefined || Number.isInteger(n / t.multipleOf));
  if (t.integer) return fc.integer({ min: Math.ceil(lo), max: Math.floor(hi) }).filter(okEx);
  return fc
    .oneof(
      fc.double({ min: lo, max: hi, noNaN: true, noDefaultInfinity: true }),
      fc.integer({ min: Math.ceil(lo), max: Math.floor(hi) }),
    )
    .map((n) => (Object.is(n, -0) ? 0 : n))
    .filter(okEx);
}

const REPLACEMENTS: readonly unknown[] = [
  null,
  12345,
  'zz-not-valid',
  true,
  [],
  {},
  -1,
  1.5,
  '',
  'x'.repeat(300),
];

/**
 * Candidate invalid variants of a valid value: each member replaced by values of other
 * types, deleted, duplicated or joined by an unexpected member. The tests keep the ones Ajv
 * rejects and expect every other validator to reject them too.
 */
export function mutations(value: unknown): unknown[] {
  const out: unknown[] = [];
  const paths: (string | number)[][] = [];
  const walk = (v: unknown, path: (string | number)[]) => {
    paths.push(path);
    if (Array.isArray(v)) {
      for (const [i, x] of v.entries()) walk(x, [...path, i]);
    } else if (v !== null && typeof v === 'object')
      for (const k of Object.keys(v)) walk((v as Record<string, unknown>)[k], [...path, k]);
  };
  walk(value, []);
  for (const path of paths) {
    for (const r of REPLACEMENTS) out.push(setAt(value, path, r));
    const parentPath = path.slice(0, -1);
    const last = path[path.length - 1];
    if (typeof last === 'string') out.push(deleteAt(value, parentPath, last));
    const here = getAt(value, path);
    if (here !== null && typeof here === 'object' && !Array.isArray(here)) {
      out.push(setAt(value, path, { ...(here as object), unexpected_zz: 1 }));
    }
    if (Array.isArray(here) && here.length > 0) out.push(setAt(value, path, [...here, here[0]]));
  }
  return out;
}

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

function getAt(v: unknown, path: (string | number)[]): unknown {
  let cur = v;
  for (const p of path) cur = (cur as Record<string | number, unknown>)[p];
  return cur;
}

function setAt(v: unknown, path: (string | number)[], r: unknown): unknown {
  if (path.length === 0) return clone(r);
  const c = clone(v);
  const parent = getAt(c, path.slice(0, -1)) as Record<string | number, unknown>;
  parent[path[path.length - 1]!] = clone(r);
  return c;
}

function deleteAt(v: unknown, parentPath: (string | number)[], key: string): unknown {
  const c = clone(v);
  const parent = getAt(c, parentPath) as Record<string, unknown>;
  delete parent[key];
  return c;
}
