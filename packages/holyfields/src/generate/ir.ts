import { AppError, isValidPattern } from '@33god/core';
import type { EventFile } from '../schema/events.js';
import builtinEnvelope from '../schema/generated/envelope.bundle.json' with { type: 'json' };
import { getPointer } from '../schema/pointer.js';
import type { SchemaRegistry } from '../schema/registry.js';
import { absolutizeRefs } from '../schema/registry.js';
import { isObject, type JsonObject, pathEventType, pathVersion } from '../schema/tree.js';

/**
 * The generators' model of a schema: the JSON Schema subset Holyfields turns into code.
 * Everything outside it makes `buildModel` fail with a message naming the file and keyword.
 */
export type Lit = string | number | boolean | null;
export type StringFormat = 'uuid' | 'date-time' | 'date' | 'uri' | 'email';
export type IR =
  | { k: 'any' }
  | { k: 'never' }
  | { k: 'null' }
  | { k: 'boolean' }
  | {
      k: 'string';
      minLength?: number;
      maxLength?: number;
      patterns: string[];
      format?: StringFormat;
    }
  | {
      k: 'number';
      integer: boolean;
      minimum?: number;
      maximum?: number;
      exclusiveMinimum?: number;
      exclusiveMaximum?: number;
      multipleOf?: number;
    }
  | { k: 'literal'; values: Lit[] }
  | { k: 'array'; items: IR; minItems?: number; maxItems?: number; unique: boolean }
  | { k: 'object'; props: Prop[]; additional: IR | 'allow' | 'forbid' }
  | { k: 'union'; options: IR[] }
  | { k: 'ref'; name: string };

export interface Prop {
  name: string;
  type: IR;
  required: boolean;
  description?: string;
}

/** A named definition: a `$defs` entry, a payload, an event or the envelope. */
export interface NamedDef {
  name: string;
  /** Module (domain) it belongs to: the first folder of its file, `common` for `_common`. */
  module: string;
  type: IR;
  description?: string;
  /** Source file relative path. */
  file: string;
  role: 'def' | 'payload' | 'event' | 'envelope';
}

export interface EventModel {
  /** Exact types, or a single topic pattern for wildcard schemas. */
  types: string[];
  pattern?: string;
  version: number;
  kind: 'envelope' | 'payload';
  payload: string;
  event: string;
  file: string;
  /** Latest version of each of its types. */
  latest: boolean;
}

export interface Model {
  defs: NamedDef[];
  events: EventModel[];
  envelope: string;
  discriminator: string;
}

const SUPPORTED_FORMATS: readonly string[] = ['uuid', 'date-time', 'date', 'uri', 'email'];

/** Keywords that carry no constraint; the generators ignore them. */
const ANNOTATIONS = new Set([
  '$schema',
  '$id',
  '$anchor',
  '$comment',
  '$defs',
  'definitions',
  'title',
  'description',
  'examples',
  'default',
  'deprecated',
  'readOnly',
  'writeOnly',
  'contentMediaType',
  'contentEncoding',
]);

const CONSTRAINTS = new Set([
  '$ref',
  'type',
  'enum',
  'const',
  'allOf',
  'anyOf',
  'oneOf',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minLength',
  'maxLength',
  'pattern',
  'format',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
]);

export function pascal(s: string): string {
  return s
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');
}

/** Python keywords: names the generated Python must not use for a module, class or field. */
export const PY_KEYWORDS: ReadonlySet<string> = new Set(
  (
    'False None True and as assert async await break class continue def del elif else except finally for from ' +
    'global if import in is lambda nonlocal not or pass raise return try while with yield match case type'
  ).split(' '),
);

export function moduleOf(rel: string): string {
  const first = rel
    .split('/')[0]!
    .replace(/^_+/, '')
    .replace(/[^A-Za-z0-9_]/g, '_');
  const m = /^[0-9]/.test(first) ? `m_${first}` : first.replace(/\.json$/, '') || 'common';
  // `from .class import ...` is a syntax error.
  return PY_KEYWORDS.has(m) ? `${m}_` : m;
}

class Unsupported extends Error {}

/**
 * Thrown when an inlined schema (a whole file, or a location outside `$defs`) turns out to be
 * recursive: the build starts again with that schema as a named definition, so non-recursive
 * schemas keep their inlined output.
 */
class NameIt extends Error {
  readonly uri: string;
  constructor(uri: string) {
    super(`recursive schema ${uri}`);
    this.uri = uri;
  }
}

/** Names the generated modules define themselves (and Python builtins the models import). */
const RESERVED = new Set([
  'EventMap',
  'EventEnvelopeMap',
  'EventType',
  'AnyEvent',
  'EventEnvelope',
  'Any',
  'Annotated',
  'Literal',
  'Union',
  'Optional',
  'BaseModel',
  'ConfigDict',
  'Field',
  'AfterValidator',
  'TypeAdapter',
  'StrictStr',
  'StrictInt',
  'StrictFloat',
  'StrictBool',
  // Python constants, and globals the generated TypeScript uses or must not shadow.
  'None',
  'True',
  'False',
  'URI',
  'EMAIL',
  'Object',
  'Array',
  'Set',
  'Map',
  'JSON',
  'Number',
  'String',
  'Boolean',
  'RegExp',
  'Symbol',
  'Math',
  'Date',
  'Error',
  'Promise',
  'Infinity',
  'NaN',
]);

/** Builds the code-generation model of a loaded tree. Throws SCHEMA_INVALID for unsupported schema features. */
export function buildModel(registry: SchemaRegistry): Model {
  const named = new Set<string>();
  for (;;) {
    try {
      return new ModelBuilder(registry, named).build();
    } catch (err) {
      // Each retry names one more schema, and there are finitely many: this ends.
      if (!(err instanceof NameIt) || named.has(err.uri)) throw err;
      named.add(err.uri);
    }
  }
}

interface Doc {
  rel: string;
  json: JsonObject;
}

class ModelBuilder {
  readonly #reg: SchemaRegistry;
  readonly #docs = new Map<string, Doc>();
  readonly #names = new Map<string, string>();
  readonly #defs = new Map<string, NamedDef>();
  readonly #inlining: string[] = [];
  /** Schemas that would be inlined but are recursive: they become named definitions. */
  readonly #recursive: ReadonlySet<string>;
  #currentFile = '';

  constructor(reg: SchemaRegistry, recursive: ReadonlySet<string> = new Set()) {
    this.#reg = reg;
    this.#recursive = recursive;
    for (const f of reg.tree.sortedFiles())
      this.#docs.set(f.id, { rel: f.rel, json: absolutizeRefs(reg.tree, f) });
  }

  build(): Model {
    const envelopeUri = this.#envelopeUri();
    this.#names.set(envelopeUri, 'EventEnvelope');
    const events: EventModel[] = [];
    const latest = new Map<string, number>();
    for (const ev of this.#reg.events) {
      for (const t of [...ev.types, ...ev.patterns]) latest.set(t, Math.max(latest.get(t) ?? 0, ev.version));
    }
    // Names first, so references resolve to them whatever the order of conversion.
    const base = (ev: EventFile) => {
      const name = pascal(pathEventType(ev.file.rel));
      // `1st/thing.created.v1.json` must not make an identifier starting with a digit.
      return `${/^[0-9]/.test(name) ? 'T' : ''}${name}V${ev.version}`;
    };
    for (const ev of this.#reg.events) {
      if (ev.kind === 'payload') this.#names.set(`${ev.file.id}#`, `${base(ev)}Payload`);
      else this.#names.set(`${ev.file.id}#`, `${base(ev)}Event`);
    }
    this.#named(envelopeUri, 'envelope');
    for (const ev of this.#reg.events) {
      this.#currentFile = ev.file.rel;
      const b = base(ev);
      try {
        if (ev.kind === 'payload') {
          this.#named(`${ev.file.id}#`, 'payload');
          const disc =
            ev.patterns.length > 0
              ? { type: 'string', pattern: topicRegex(ev.patterns[0]!) }
              : ev.types.length === 1
                ? { const: ev.types[0] }
                : { enum: ev.types };
          const eventSchema = {
            allOf: [{ $ref: envelopeUri }],
            properties: {
              [this.#reg.discriminator]: disc,
              [this.#reg.payloadProperty]: { $ref: `${ev.file.id}#` },
            },
          };
          const eventType = this.#convert(eventSchema);
          if (eventType.k !== 'object') throw new Unsupported('the envelope must describe an object');
          this.#checkDiscriminator(eventType, ev);
          const pp = eventType.props.find((x) => x.name === this.#reg.payloadProperty);
          if (pp) pp.type = { k: 'ref', name: `${b}Payload` };
          this.#defs.set(`event:${ev.file.id}`, {
            name: `${b}Event`,
            module: moduleOf(ev.file.rel),
            type: eventType,
            file: ev.file.rel,
            role: 'event',
            ...descOf(ev.file.json),
          });
        } else {
          const def = this.#named(`${ev.file.id}#`, 'event');
          const t = def.type;
          if (t.k !== 'object') throw new Unsupported('an envelope schema must describe an object');
          this.#checkDiscriminator(t, ev);
          const p = t.props.find((x) => x.name === this.#reg.payloadProperty);
          const payloadType: IR = p?.type ?? { k: 'object', props: [], additional: 'allow' };
          this.#defs.set(`payload:${ev.file.id}`, {
            name: `${b}Payload`,
            module: moduleOf(ev.file.rel),
            type: payloadType,
            file: ev.file.rel,
            role: 'payload',
          });
          if (p) p.type = { k: 'ref', name: `${b}Payload` };
        }
      } catch (err) {
        throw this.#fail(err);
      }
      const types = ev.patterns.length > 0 ? [] : [...ev.types];
      const m: EventModel = {
        types,
        version: ev.version,
        kind: ev.kind,
        payload: `${b}Payload`,
        event: `${b}Event`,
        file: ev.file.rel,
        latest: [...ev.types, ...ev.patterns].every((x) => latest.get(x) === ev.version),
      };
      if (ev.patterns.length > 0) m.pattern = ev.patterns[0]!;
      events.push(m);
    }
    const defs = [...this.#defs.values()];
    const seen = new Map<string, string>();
    for (const d of defs) {
      const other = seen.get(d.name);
      if (other !== undefined) {
        throw new AppError(
          'SCHEMA_INVALID',
          `${d.file}: generated name '${d.name}' is also used by ${other}`,
          {
            extra: { file: d.file },
          },
        );
      }
      seen.set(d.name, d.file);
    }
    return { defs, events, envelope: 'EventEnvelope', discriminator: this.#reg.discriminator };
  }

  /** An event whose type the envelope forbids (`Bad.Type` against its pattern) could never validate: refused. */
  #checkDiscriminator(event: IR & { k: 'object' }, ev: EventFile): void {
    const disc = event.props.find((p) => p.name === this.#reg.discriminator);
    if (disc?.type.k === 'never') {
      throw new Unsupported(
        `event type ${[...ev.types, ...ev.patterns].map((t) => `'${t}'`).join(', ')} is not allowed by the envelope's '${this.#reg.discriminator}' (check its pattern)`,
      );
    }
  }

  #fail(err: unknown): Error {
    if (err instanceof AppError || err instanceof NameIt) return err;
    const msg = err instanceof Error ? err.message : String(err);
    return new AppError('SCHEMA_INVALID', `${this.#currentFile}: cannot generate code: ${msg}`, {
      extra: { file: this.#currentFile },
    });
  }

  /** The envelope's URI: the tree's own, else the built-in one (under a private namespace, so it cannot clash). */
  #envelopeUri(): string {
    const own = this.#reg.tree.files.get('_common/envelope.v1.json');
    if (own) return `${own.id}#`;
    const text = JSON.stringify(builtinEnvelope).replaceAll(
      'https://33god.dev/schemas/',
      'urn:holyfields:builtin:',
    );
    const bundle = JSON.parse(text) as { $ref: string; $defs: Record<string, JsonObject> };
    for (const [rel, json] of Object.entries(bundle.$defs)) {
      this.#docs.set(String(json.$id), { rel: `_builtin/${rel}`, json });
    }
    return `${bundle.$ref}#`;
  }

  #resolve(uri: string): { doc: Doc; pointer: string; node: unknown } {
    const i = uri.indexOf('#');
    const docId = i < 0 ? uri : uri.slice(0, i);
    const pointer = i < 0 ? '' : decodeURI(uri.slice(i + 1));
    const doc = this.#docs.get(docId);
    const node = doc ? getPointer(doc.json, pointer) : undefined;
    if (!doc || node === undefined) throw new Unsupported(`$ref '${uri}' does not resolve`);
    return { doc, pointer, node };
  }

  #nameFor(uri: string): string | undefined {
    const given = this.#names.get(uri);
    if (given) return given;
    const { doc, pointer } = this.#resolve(uri);
    const m = /^\/(?:\$defs|definitions)\/([^/]+)$/.exec(pointer);
    if (!m && !this.#recursive.has(uri)) return undefined;
    // A recursive whole file or location outside $defs: named after its file (and version) and pointer.
    const version = pathVersion(doc.rel);
    let name = m
      ? pascal(m[1]!)
      : pascal(`${pathEventType(doc.rel)}${version === undefined ? '' : ` V${version}`} ${pointer}`);
    if (!/^[A-Za-z]/.test(name)) name = `T${name}`;
    if (doc.rel.startsWith('_builtin/')) name = `Envelope${name}`;
    const taken = RESERVED.has(name) || [...this.#names.entries()].some(([u, n]) => n === name && u !== uri);
    if (taken) name = `${pascal(pathEventType(doc.rel))}${name}`;
    this.#names.set(uri, name);
    return name;
  }

  #named(uri: string, role: NamedDef['role']): NamedDef {
    const existing = this.#defs.get(uri);
    if (existing) return existing;
    const name = this.#nameFor(uri) ?? pascal(uri);
    const { doc, node } = this.#resolve(uri);
    this.#inlining.push(uri);
    // Registered before its conversion: a reference back to it (a recursive schema) becomes a `ref`.
    const def: NamedDef = {
      name,
      module: moduleOf(doc.rel),
      type: { k: 'any' },
      file: doc.rel,
      role,
      ...descOf(node),
    };
    this.#defs.set(uri, def);
    def.type = this.#convert(node);
    this.#inlining.pop();
    return def;
  }

  #convert(node: unknown): IR {
    if (node === true) return { k: 'any' };
    if (node === false) return { k: 'never' };
    if (!isObject(node)) throw new Unsupported('a schema must be an object or a boolean');
    for (const key of Object.keys(node)) {
      if (!CONSTRAINTS.has(key) && !ANNOTATIONS.has(key) && !key.startsWith('x-')) {
        throw new Unsupported(`keyword '${key}' is not supported by the generators`);
      }
    }
    const constraintKeys = Object.keys(node).filter((k) => CONSTRAINTS.has(k));
    if (typeof node.$ref === 'string') {
      if (constraintKeys.length === 1) {
        const name = this.#nameFor(node.$ref);
        if (name) {
          this.#named(node.$ref, 'def');
          return { k: 'ref', name };
        }
        return this.#inline(node.$ref);
      }
      const { $ref, ...rest } = node;
      return this.#convert({ allOf: [{ $ref }, rest] });
    }
    if (Array.isArray(node.allOf)) {
      const { allOf, ...rest } = node;
      let merged: JsonObject = stripAnnotations(rest);
      for (const member of allOf) merged = mergeSchemas(merged, this.#flatten(member));
      return this.#convert(merged);
    }
    for (const key of ['anyOf', 'oneOf'] as const) {
      const opts = node[key];
      if (!Array.isArray(opts)) continue;
      const { [key]: _drop, ...rest } = node;
      const siblings = stripAnnotations(rest);
      const options = opts.map((o) =>
        Object.keys(siblings).length === 0
          ? this.#convert(o)
          : this.#convert(mergeSchemas(siblings, this.#flatten(o))),
      );
      if (key === 'oneOf' && !pairwiseDisjoint(options, (n) => this.#defType(n))) {
        throw new Unsupported('oneOf alternatives that can overlap are not supported (use anyOf)');
      }
      return unionOf(options);
    }
    if ('const' in node || 'enum' in node) return this.#literal(node);
    const types = typeList(node);
    if (types.length > 1) return unionOf(types.map((t) => this.#typed(node, t)));
    return this.#typed(node, types[0]);
  }

  /** The IR of a named definition already converted (for the oneOf overlap check). */
  #defType(name: string): IR | undefined {
    for (const d of this.#defs.values()) if (d.name === name) return d.type;
    return undefined;
  }

  #inline(uri: string): IR {
    if (this.#inlining.includes(uri)) throw new NameIt(uri);
    this.#inlining.push(uri);
    try {
      return this.#convert(this.#resolve(uri).node);
    } finally {
      this.#inlining.pop();
    }
  }

  /** A schema with its `$ref` and `allOf` merged in, for merging into an `allOf`. */
  #flatten(node: unknown, depth = 0): JsonObject {
    if (depth > 32) throw new Unsupported('allOf/$ref nesting too deep');
    if (node === true) return {};
    if (!isObject(node)) throw new Unsupported('allOf members must be schemas');
    let out: JsonObject = {};
    const { $ref, allOf, ...rest } = node;
    if (typeof $ref === 'string') out = mergeSchemas(out, this.#flatten(this.#resolve($ref).node, depth + 1));
    if (Array.isArray(allOf)) for (const m of allOf) out = mergeSchemas(out, this.#flatten(m, depth + 1));
    return mergeSchemas(out, rest);
  }

  #literal(node: JsonObject): IR {
    let values: unknown[] = 'const' in node ? [node.const] : (node.enum as unknown[]);
    if (!Array.isArray(values)) throw new Unsupported('enum must be an array');
    if ('const' in node && Array.isArray(node.enum)) {
      values = values.filter((v) => (node.enum as unknown[]).some((e) => deepEqual(e, v)));
    }
    for (const v of values) {
      if (v !== null && typeof v === 'object')
        throw new Unsupported('object and array values in enum/const are not supported');
    }
    // 1e400 parses as Infinity, which no JSON instance can equal.
    values = values.filter((v) => typeof v !== 'number' || Number.isFinite(v));
    const types = 'type' in node ? typeList(node) : undefined;
    const ok = (values as Lit[]).filter((v) => !types || types.some((t) => litIsType(v, t)));
    const patterns = patternList(node.pattern);
    const filtered = ok.filter(
      (v) => typeof v !== 'string' || patterns.every((p) => new RegExp(p, 'u').test(v)),
    );
    return filtered.length === 0 ? { k: 'never' } : { k: 'literal', values: filtered };
  }

  #typed(node: JsonObject, type: string | undefined): IR {
    switch (type) {
      case undefined:
        return { k: 'any' };
      case 'null':
        return { k: 'null' };
      case 'boolean':
        return { k: 'boolean' };
      case 'string': {
        const ir: IR & { k: 'string' } = { k: 'string', patterns: patternList(node.pattern) };
        for (const p of ir.patterns) {
          try {
            new RegExp(p, 'u');
          } catch {
            throw new Unsupported(`pattern '${p}' is not a valid ECMA-262 regular expression`);
          }
        }
        if (typeof node.minLength === 'number') ir.minLength = node.minLength;
        if (typeof node.maxLength === 'number') ir.maxLength = node.maxLength;
        if (typeof node.format === 'string') {
          if (!SUPPORTED_FORMATS.includes(node.format)) {
            throw new Unsupported(
              `format '${node.format}' is not supported (supported: ${SUPPORTED_FORMATS.join(', ')})`,
            );
          }
          ir.format = node.format as StringFormat;
        }
        return ir;
      }
      case 'integer':
      case 'number': {
        const ir: IR & { k: 'number' } = { k: 'number', integer: type === 'integer' };
        for (const key of [
          'minimum',
          'maximum',
          'exclusiveMinimum',
          'exclusiveMaximum',
          'multipleOf',
        ] as const) {
          const v = node[key];
          if (typeof v !== 'number') continue;
          // 1e400 parses as ±Infinity: no bound on its own side, nothing allowed on the other.
          if (v === (key.includes('inimum') ? -Infinity : Infinity)) continue;
          if (!Number.isFinite(v)) return { k: 'never' };
          ir[key] = v;
        }
        return ir;
      }
      case 'array': {
        if (Array.isArray(node.items)) throw new Unsupported('array-form items (tuples) are not supported');
        const ir: IR & { k: 'array' } = {
          k: 'array',
          items: node.items === undefined ? { k: 'any' } : this.#convert(node.items),
          unique: node.uniqueItems === true,
        };
        if (typeof node.minItems === 'number') ir.minItems = node.minItems;
        if (typeof node.maxItems === 'number') ir.maxItems = node.maxItems;
        return ir;
      }
      case 'object': {
        const props: Prop[] = [];
        const properties = isObject(node.properties) ? node.properties : {};
        const required = Array.isArray(node.required) ? (node.required as string[]) : [];
        for (const name of Object.keys(properties)) {
          const p: Prop = { name, type: this.#convert(properties[name]), required: required.includes(name) };
          const d = descOf(properties[name]);
          if (d.description) p.description = d.description;
          props.push(p);
        }
        for (const name of required) {
          if (!(name in properties)) props.push({ name, type: { k: 'any' }, required: true });
        }
        const ap = node.additionalProperties;
        const additional: IR | 'allow' | 'forbid' =
          ap === undefined || ap === true ? 'allow' : ap === false ? 'forbid' : this.#convert(ap);
        return { k: 'object', props, additional };
      }
      default:
        throw new Unsupported(`type '${type}' is not a JSON Schema type`);
    }
  }
}

function descOf(node: unknown): { description?: string } {
  return isObject(node) && typeof node.description === 'string' ? { description: node.description } : {};
}

function stripAnnotations(node: JsonObject): JsonObject {
  return Object.fromEntries(Object.entries(node).filter(([k]) => !ANNOTATIONS.has(k)));
}

function patternList(p: unknown): string[] {
  if (typeof p === 'string') return [p];
  if (Array.isArray(p)) return p.filter((x): x is string => typeof x === 'string');
  return [];
}

/** The JSON types a schema allows; inferred from its keywords when `type` is absent. */
function typeList(node: JsonObject): (string | undefined)[] {
  if (typeof node.type === 'string') return [node.type];
  if (Array.isArray(node.type)) return node.type as string[];
  const has = (...keys: string[]) => keys.some((k) => k in node);
  const inferred: string[] = [];
  if (has('properties', 'required', 'additionalProperties')) inferred.push('object');
  if (has('items', 'minItems', 'maxItems', 'uniqueItems')) inferred.push('array');
  if (has('minLength', 'maxLength', 'pattern', 'format')) inferred.push('string');
  if (has('minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf'))
    inferred.push('number');
  if (inferred.length > 1) throw new Unsupported('a schema without "type" mixes keywords of several types');
  return inferred.length === 0 ? [undefined] : inferred;
}

function litIsType(v: Lit, t: string | undefined): boolean {
  switch (t) {
    case undefined:
      return true;
    case 'null':
      return v === null;
    case 'string':
      return typeof v === 'string';
    case 'boolean':
      return typeof v === 'boolean';
    case 'number':
      return typeof v === 'number';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    default:
      return false;
  }
}

export function unionOf(options: IR[]): IR {
  const flat: IR[] = [];
  for (const o of options) {
    if (o.k === 'union') flat.push(...o.options);
    else if (o.k !== 'never') flat.push(o);
  }
  if (flat.some((o) => o.k === 'any')) return { k: 'any' };
  const unique = flat.filter((o, i) => flat.findIndex((x) => deepEqual(x, o)) === i);
  if (unique.length === 0) return { k: 'never' };
  if (unique.length === 1) return unique[0]!;
  return { k: 'union', options: unique };
}

/** True when no instance can match two of the alternatives (what makes a oneOf a plain union). */
function pairwiseDisjoint(options: IR[], lookup: (name: string) => IR | undefined): boolean {
  return options.every((a, i) => options.slice(i + 1).every((b) => disjoint(a, b, lookup, 0)));
}

/** The JSON kind of a literal value, as the IR names it. */
function litKind(v: Lit): IR['k'] {
  return v === null
    ? 'null'
    : typeof v === 'boolean'
      ? 'boolean'
      : typeof v === 'number'
        ? 'number'
        : 'string';
}

/**
 * Whether two IRs surely accept no common instance: different JSON types, literals with no
 * common value, or objects that both require a member whose types are disjoint (a
 * discriminated union: `kind: "a"` / `kind: "b"`). Unsure means not disjoint.
 */
function disjoint(aIn: IR, bIn: IR, lookup: (name: string) => IR | undefined, depth: number): boolean {
  if (depth > 16) return false;
  const a = aIn.k === 'ref' ? lookup(aIn.name) : aIn;
  const b = bIn.k === 'ref' ? lookup(bIn.name) : bIn;
  if (a === undefined || b === undefined || a.k === 'ref' || b.k === 'ref') return false;
  if (a.k === 'never' || b.k === 'never') return true;
  if (a.k === 'any' || b.k === 'any') return false;
  if (a.k === 'union') return a.options.every((o) => disjoint(o, b, lookup, depth + 1));
  if (b.k === 'union') return b.options.every((o) => disjoint(a, o, lookup, depth + 1));
  if (a.k === 'literal' && b.k === 'literal') return !a.values.some((v) => b.values.some((w) => v === w));
  if (a.k === 'literal') return !a.values.some((v) => litKind(v) === b.k);
  if (b.k === 'literal') return !b.values.some((v) => litKind(v) === a.k);
  if (a.k !== b.k) return true;
  if (a.k === 'object' && b.k === 'object') {
    return a.props.some((p) => {
      const q = b.props.find((x) => x.name === p.name);
      return p.required && q?.required === true && disjoint(p.type, q.type, lookup, depth + 1);
    });
  }
  return false;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** JSON with sorted keys: a canonical form for comparisons. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isObject(v)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** A regular expression for the event types a topic pattern matches. */
export function topicRegex(pattern: string): string {
  if (!isValidPattern(pattern)) throw new Unsupported(`'${pattern}' is not a topic pattern`);
  const words = pattern.split('.');
  let re = '';
  words.forEach((w, i) => {
    const dot = i === 0 ? '' : '\\.';
    if (w === '#') re += i === 0 ? '(?:[^.]+(?:\\.[^.]+)*)?' : '(?:\\.[^.]+)*';
    else if (w === '*') re += `${dot}[^.]+`;
    else re += `${dot}${w.replace(/[-]/g, '\\-')}`;
  });
  return `^${re}$`;
}

const TYPE_ORDER = ['null', 'boolean', 'integer', 'number', 'string', 'array', 'object'];

/** Merges two schemas as `allOf` would (both with absolute `$ref`s), for the keywords the generators support. */
export function mergeSchemas(a: JsonObject, b: JsonObject): JsonObject {
  const out: JsonObject = { ...a };
  for (const [k, bv] of Object.entries(b)) {
    if (!(k in out)) {
      out[k] = bv;
      continue;
    }
    const av = out[k];
    switch (k) {
      case 'type': {
        const at = Array.isArray(av) ? (av as string[]) : [av as string];
        const bt = Array.isArray(bv) ? (bv as string[]) : [bv as string];
        const both = TYPE_ORDER.filter(
          (t) =>
            (at.includes(t) || (t === 'integer' && at.includes('number'))) &&
            (bt.includes(t) || (t === 'integer' && bt.includes('number'))),
        );
        if (both.length === 0)
          throw new Unsupported(`allOf combines types ${JSON.stringify(av)} and ${JSON.stringify(bv)}`);
        out.type = both.length === 1 ? both[0] : both;
        break;
      }
      case 'properties': {
        const ap = av as JsonObject;
        const bp = bv as JsonObject;
        const merged: JsonObject = { ...ap };
        for (const [name, s] of Object.entries(bp)) {
          merged[name] = name in ap ? { allOf: [ap[name], s] } : s;
        }
        out.properties = merged;
        break;
      }
      case 'required':
        out.required = [...new Set([...(av as string[]), ...(bv as string[])])];
        break;
      case 'additionalProperties':
        if (!deepEqual(av, bv))
          throw new Unsupported('allOf members with different additionalProperties are not supported');
        break;
      case 'const':
        if (!deepEqual(av, bv)) throw new Unsupported('allOf members with different const values');
        break;
      case 'enum':
        out.enum = (av as unknown[]).filter((x) => (bv as unknown[]).some((y) => deepEqual(x, y)));
        break;
      case 'minimum':
      case 'exclusiveMinimum':
      case 'minLength':
      case 'minItems':
        out[k] = Math.max(av as number, bv as number);
        break;
      case 'maximum':
      case 'exclusiveMaximum':
      case 'maxLength':
      case 'maxItems':
        out[k] = Math.min(av as number, bv as number);
        break;
      case 'pattern':
        out.pattern = [...new Set([...patternList(av), ...patternList(bv)])];
        break;
      case 'format':
        if (av !== bv) throw new Unsupported(`allOf combines formats '${String(av)}' and '${String(bv)}'`);
        break;
      case 'items':
        out.items = { allOf: [av, bv] };
        break;
      case 'uniqueItems':
        out.uniqueItems = av === true || bv === true;
        break;
      case 'multipleOf':
        if (av !== bv) throw new Unsupported('allOf members with different multipleOf');
        break;
      case 'allOf':
        out.allOf = [...(av as unknown[]), ...(bv as unknown[])];
        break;
      case '$ref':
        out.allOf = [...((out.allOf as unknown[]) ?? []), { $ref: bv }];
        break;
      case 'anyOf':
      case 'oneOf':
        throw new Unsupported(`allOf members that both use ${k} are not supported`);
      default:
        // annotations: the first wins
        break;
    }
  }
  // additionalProperties closes over the properties of its own member only; merging it with
  // properties from another member would change its meaning.
  if (out.additionalProperties !== undefined && out.additionalProperties !== true) {
    const own = [a, b].find((s) => s.additionalProperties !== undefined);
    const ownProps = Object.keys((own?.properties as JsonObject | undefined) ?? {});
    const allProps = Object.keys((out.properties as JsonObject | undefined) ?? {});
    if (allProps.some((p) => !ownProps.includes(p))) {
      throw new Unsupported(
        'allOf with additionalProperties in one member and other properties in another is not supported',
      );
    }
  }
  return out;
}
