/**
 * A publish form generated from an event's JSON Schema. Only what a form can express
 * becomes a field (strings, numbers, booleans, enums, nested objects); anything else
 * (arrays, unions, unresolved references to other files) is a JSON field, so every
 * schema yields a usable form.
 */

type JsonSchema = Record<string, unknown>;

export type FieldKind = 'string' | 'number' | 'integer' | 'boolean' | 'enum' | 'json';

export interface FormField {
  /** Dotted path inside the payload. */
  key: string;
  path: string[];
  kind: FieldKind;
  required: boolean;
  description?: string;
  enumValues?: string[];
  format?: string;
  /** The value the field starts with, as the text shown in the input. */
  initial: string;
}

const isObj = (v: unknown): v is JsonSchema => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Follows local `#/...` references and merges `allOf` branches (properties and required). */
export function resolveSchema(schema: unknown, root: unknown = schema, depth = 0): JsonSchema {
  if (!isObj(schema) || depth > 20) return {};
  let s: JsonSchema = schema;
  const ref = s.$ref;
  if (typeof ref === 'string' && ref.startsWith('#')) {
    const target = pointer(root, ref.slice(1));
    const { $ref: _drop, ...rest } = s;
    s = { ...resolveSchema(target, root, depth + 1), ...rest };
  }
  if (Array.isArray(s.allOf)) {
    const merged: JsonSchema = { ...s };
    delete merged.allOf;
    const props: JsonSchema = {};
    const required = new Set<string>();
    for (const part of [...s.allOf, { properties: s.properties, required: s.required }]) {
      const r = resolveSchema(part, root, depth + 1);
      if (isObj(r.properties)) Object.assign(props, r.properties);
      if (Array.isArray(r.required)) for (const k of r.required) if (typeof k === 'string') required.add(k);
      if (r.type && !merged.type) merged.type = r.type;
    }
    merged.properties = props;
    merged.required = [...required];
    s = merged;
  }
  return s;
}

function pointer(root: unknown, ptr: string): unknown {
  let cur: unknown = root;
  for (const raw of ptr.split('/').slice(1)) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (!isObj(cur)) return undefined;
    cur = cur[key];
  }
  return cur;
}

/** The payload part of an event schema (event schemas describe the whole envelope). */
export function payloadSchema(eventSchema: unknown): JsonSchema {
  const s = resolveSchema(eventSchema);
  const props = isObj(s.properties) ? s.properties : undefined;
  if (props && isObj(props.payload)) return resolveSchema(props.payload, eventSchema);
  return s;
}

export function formFields(
  schema: unknown,
  root: unknown = schema,
  prefix: string[] = [],
  depth = 0,
): FormField[] {
  const s = resolveSchema(schema, root);
  const props = isObj(s.properties) ? s.properties : {};
  const required = new Set(Array.isArray(s.required) ? s.required.filter((k) => typeof k === 'string') : []);
  const out: FormField[] = [];
  for (const [name, raw] of Object.entries(props)) {
    const p = resolveSchema(raw, root);
    const path = [...prefix, name];
    const base = {
      key: path.join('.'),
      path,
      required: required.has(name),
      description: typeof p.description === 'string' ? p.description : undefined,
    };
    const type = Array.isArray(p.type) ? p.type.find((t) => t !== 'null') : p.type;
    if (Array.isArray(p.enum) && p.enum.every((v) => typeof v === 'string')) {
      const enumValues = p.enum as string[];
      out.push({ ...base, kind: 'enum', enumValues, initial: String(p.default ?? enumValues[0] ?? '') });
    } else if (typeof p.const === 'string') {
      out.push({ ...base, kind: 'enum', enumValues: [p.const], initial: p.const });
    } else if (type === 'object' && isObj(p.properties) && depth < 3) {
      out.push(...formFields(p, root, path, depth + 1));
    } else if (type === 'string' || (type === undefined && typeof p.$ref === 'string')) {
      const format = typeof p.format === 'string' ? p.format : undefined;
      out.push({ ...base, kind: 'string', format, initial: initialString(p, format) });
    } else if (type === 'integer' || type === 'number') {
      out.push({ ...base, kind: type, initial: p.default !== undefined ? String(p.default) : '' });
    } else if (type === 'boolean') {
      out.push({ ...base, kind: 'boolean', initial: p.default === true ? 'true' : 'false' });
    } else {
      const example = exampleFromSchema(p, root);
      out.push({ ...base, kind: 'json', initial: JSON.stringify(example ?? null) });
    }
  }
  return out;
}

function initialString(p: JsonSchema, format: string | undefined): string {
  if (typeof p.default === 'string') return p.default;
  if (Array.isArray(p.examples) && typeof p.examples[0] === 'string') return p.examples[0];
  if (format === 'date-time') return new Date(0).toISOString();
  return '';
}

/** A plausible value for a schema: its example, default or const, else one by type. */
export function exampleFromSchema(schema: unknown, root: unknown = schema, depth = 0): unknown {
  const s = resolveSchema(schema, root);
  if (Array.isArray(s.examples) && s.examples.length > 0) return s.examples[0];
  if (s.default !== undefined) return s.default;
  if (s.const !== undefined) return s.const;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
  if (depth > 4) return null;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const props = isObj(s.properties) ? s.properties : {};
      for (const [k, v] of Object.entries(props)) out[k] = exampleFromSchema(v, root, depth + 1);
      return out;
    }
    case 'array':
      return s.items ? [exampleFromSchema(s.items, root, depth + 1)] : [];
    case 'string':
      return s.format === 'date-time'
        ? new Date(0).toISOString()
        : s.format === 'uuid'
          ? '00000000-0000-4000-8000-000000000000'
          : 'string';
    case 'integer':
    case 'number':
      return typeof s.minimum === 'number' ? s.minimum : 0;
    case 'boolean':
      return false;
    default:
      return null;
  }
}

export interface BuiltPayload {
  payload: Record<string, unknown>;
  errors: { key: string; message: string }[];
}

/** Turns the form's text values into the payload object, reporting what cannot be parsed. */
export function buildPayload(
  fields: readonly FormField[],
  values: Readonly<Record<string, string>>,
): BuiltPayload {
  const payload: Record<string, unknown> = {};
  const errors: { key: string; message: string }[] = [];
  for (const f of fields) {
    const text = values[f.key] ?? f.initial;
    if (text === '' && f.kind !== 'string' && f.kind !== 'enum') {
      if (f.required) errors.push({ key: f.key, message: 'required' });
      continue;
    }
    if (text === '' && !f.required) continue;
    let value: unknown;
    switch (f.kind) {
      case 'integer':
      case 'number': {
        const n = Number(text);
        if (!Number.isFinite(n) || (f.kind === 'integer' && !Number.isInteger(n))) {
          errors.push({
            key: f.key,
            message: `must be ${f.kind === 'integer' ? 'a whole number' : 'a number'}`,
          });
          continue;
        }
        value = n;
        break;
      }
      case 'boolean':
        value = text === 'true';
        break;
      case 'json':
        try {
          value = JSON.parse(text);
        } catch {
          errors.push({ key: f.key, message: 'must be valid JSON' });
          continue;
        }
        break;
      default:
        value = text;
    }
    setPath(payload, f.path, value);
  }
  return { payload, errors };
}

function setPath(obj: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let cur = obj;
  path.forEach((k, i) => {
    if (i === path.length - 1) cur[k] = value;
    else {
      if (!isObj(cur[k])) cur[k] = {};
      cur = cur[k] as Record<string, unknown>;
    }
  });
}
