import { AppError } from '@33god/core';
import { deepEqual, type IR, type Lit, type Model, type Prop, PY_KEYWORDS, pascal } from './ir.js';
import { refsOf, topoOrder } from './order.js';
import { GENERATED_HEADER } from './typescript.js';

/**
 * Names a class body uses in its annotations: a field called `Literal` or `list` would rebind
 * the name for the fields after it.
 */
const ANNOTATION_NAMES = new Set([
  'Annotated',
  'Any',
  'Literal',
  'Union',
  'AfterValidator',
  'BaseModel',
  'ConfigDict',
  'Field',
  'StrictBool',
  'StrictFloat',
  'StrictInt',
  'StrictStr',
  'list',
  'dict',
  'str',
]);
/** BaseModel attributes a field must not shadow. */
const MODEL_ATTRS = new Set([
  'copy',
  'dict',
  'json',
  'schema',
  'schema_json',
  'construct',
  'validate',
  'fields',
]);

const HELPERS = `# ${GENERATED_HEADER}
"""Validators for JSON Schema formats and keywords Pydantic has no exact equivalent for."""
import json
import re
from datetime import date, datetime
from typing import Any

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\\Z")
_DATE_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})\\Z")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\\Z")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\\s]*\\Z")
# As ajv-formats checks \`format: email\` (ASCII only, so no Unicode case folding).
_EMAIL = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_\`{|}~-]+(?:\\.[a-z0-9!#$%&'*+/=?^_\`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\\Z",
    re.IGNORECASE | re.ASCII,
)


def uuid(v: str) -> str:
    if not _UUID.match(v):
        raise ValueError("must be a UUID")
    return v


def date_time(v: str) -> str:
    if not _DATE_TIME.match(v):
        raise ValueError("must be an RFC 3339 date-time")
    try:
        datetime.fromisoformat(v.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError("must be an RFC 3339 date-time") from None
    return v


def date_only(v: str) -> str:
    if not _DATE.match(v):
        raise ValueError("must be an RFC 3339 full-date")
    date.fromisoformat(v)
    return v


def uri(v: str) -> str:
    if not _URI.match(v):
        raise ValueError("must be a URI")
    return v


def email(v: str) -> str:
    if not _EMAIL.match(v):
        raise ValueError("must be an email address")
    return v


def multiple_of(m: float):
    def check(v: float) -> float:
        # As Ajv (the registry's validator) decides: the quotient is an integer in double precision.
        try:
            ok = float(v / m).is_integer()
        except OverflowError:
            ok = False
        if not ok:
            raise ValueError(f"must be a multiple of {m}")
        return v

    return check


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    return type(v).__name__


def exact(*values: Any) -> Any:
    """A Literal of numbers or booleans as JSON compares them: true is not 1, 1 is not true."""
    from pydantic import BeforeValidator

    def check(v: Any) -> Any:
        if any(_kind(v) == _kind(x) and v == x for x in values):
            return v
        raise ValueError(f"must be one of {values!r}")

    return BeforeValidator(check)


def _json_members(cls: Any, data: Any) -> Any:
    if isinstance(data, dict):
        aliases = {f.alias or n for n, f in cls.model_fields.items()}
        for n in cls.model_fields:
            if n in data and n not in aliases:
                raise ValueError(f"unexpected member {n!r}")
    return data


def json_members() -> Any:
    """Refuses a member named like a field's Python name (\`class_\` for \`class\`): Pydantic would drop it silently."""
    from pydantic import model_validator

    return model_validator(mode="before")(_json_members)


def matches(pattern: str):
    compiled = re.compile(pattern)

    def check(v: str) -> str:
        if not compiled.search(v):
            raise ValueError(f"must match {pattern}")
        return v

    return check


def never(v: Any) -> Any:
    raise ValueError("no value is allowed here")


def unique_items(v: list) -> list:
    seen = set()
    for item in v:
        key = json.dumps(item, sort_keys=True, default=_dump)
        if key in seen:
            raise ValueError("must not contain duplicate items")
        seen.add(key)
    return v


def _dump(o: Any) -> Any:
    if hasattr(o, "model_dump"):
        return o.model_dump(mode="json", by_alias=True, exclude_unset=True)
    raise TypeError(type(o).__name__)
`;

interface ModuleOut {
  name: string;
  blocks: string[];
  /** module → names imported from it */
  imports: Map<string, Set<string>>;
  defined: string[];
  /** Classes with forward references (recursive definitions), rebuilt once the module is complete. */
  rebuild: string[];
  /** Whether a recursive definition that is not a class needs `TypeAliasType`. */
  aliasType: boolean;
}

/** The Python output for a model: file name → content. A package of Pydantic 2 models. */
export function generatePython(model: Model, source: string): Map<string, string> {
  const ordered = topoOrder(model.defs);
  const home = new Map<string, string>();
  for (const d of ordered) home.set(d.name, d.module);
  const modules = new Map<string, ModuleOut>();
  const mod = (name: string): ModuleOut => {
    let m = modules.get(name);
    if (!m) {
      m = { name, blocks: [], imports: new Map(), defined: [], rebuild: [], aliasType: false };
      modules.set(name, m);
    }
    return m;
  };
  const envelope = model.defs.find((d) => d.role === 'envelope');
  const envelopeProps = envelope?.type.k === 'object' ? envelope.type.props : [];
  for (const d of ordered) {
    const m = mod(d.module);
    const em = new Emitter(m, home, d.module);
    try {
      if (d.type.k === 'object') {
        const inherit = d.role === 'event' && envelope ? envelope.name : undefined;
        if (inherit) em.use(inherit);
        em.cls(d.name, d.type, d.description, inherit, inherit ? envelopeProps : []);
      } else {
        const expr = em.expr(d.type, d.name);
        if (d.description) em.m.blocks.push(comment(d.description));
        if (em.forward(d.type, d.name)) {
          // A recursive alias: its value is evaluated once the names it refers to exist.
          em.m.aliasType = true;
          em.m.blocks.push(`${d.name} = TypeAliasType(${pyStr(d.name)}, ${pyStr(expr)})\n`);
        } else em.m.blocks.push(`${d.name} = ${expr}\n`);
        em.m.defined.push(d.name);
      }
    } catch (err) {
      if (!(err instanceof AppError) || err.extra.file !== undefined) throw err;
      throw new AppError(err.code, `${d.file}: cannot generate Python: ${err.detail ?? err.message}`, {
        extra: { file: d.file },
      });
    }
  }
  checkModuleCycles(modules);

  const files = new Map<string, string>();
  files.set('_formats.py', HELPERS);
  const names = [...modules.keys()].sort();
  for (const name of names) {
    const m = modules.get(name)!;
    const lines = [
      `# ${GENERATED_HEADER}. Source: ${source}. Regenerate: holyfields generate --lang python`,
      '# ruff: noqa',
      'from typing import Annotated, Any, Literal, Union',
      '',
      'from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr',
      '',
      'from . import _formats',
    ];
    if (m.aliasType) lines.splice(lines.length - 3, 0, 'from typing_extensions import TypeAliasType');
    for (const [other, imported] of [...m.imports.entries()].sort()) {
      lines.push(`from .${other} import ${[...imported].sort().join(', ')}`);
    }
    lines.push('', '');
    lines.push(m.blocks.join('\n\n'));
    if (m.rebuild.length > 0) {
      lines.push('', '# Recursive models: their forward references resolve now that every name is defined.');
      for (const c of m.rebuild) lines.push(`${c}.model_rebuild()`);
    }
    files.set(`${name}.py`, `${lines.join('\n').trimEnd()}\n`);
  }

  const init: string[] = [
    `# ${GENERATED_HEADER}. Source: ${source}. Regenerate: holyfields generate --lang python`,
    '# ruff: noqa',
    '"""Pydantic models of the event schemas. Validate JSON with `AnyEventAdapter.validate_json(text)`."""',
    'from typing import Annotated, Union',
    '',
    'from pydantic import Field, TypeAdapter',
    '',
  ];
  const exported: string[] = [];
  for (const name of names) {
    const defined = [...modules.get(name)!.defined].sort();
    init.push(`from .${name} import (\n${defined.map((d) => `    ${d},`).join('\n')}\n)`);
    exported.push(...defined);
  }
  const latest = model.events.filter((e) => e.latest);
  const exact = latest.flatMap((e) => e.types.map((t) => ({ t, e }))).sort((a, b) => (a.t < b.t ? -1 : 1));
  init.push('', '#: Event type → model of the whole event (latest version of each type).');
  init.push('EVENT_MODELS = {');
  for (const { t, e } of exact) init.push(`    ${JSON.stringify(t)}: ${e.event},`);
  init.push('}', '', '#: Event type → model of its payload.');
  init.push('PAYLOAD_MODELS = {');
  for (const { t, e } of exact) init.push(`    ${JSON.stringify(t)}: ${e.payload},`);
  init.push('}', '', '#: Topic pattern → (payload model, event model) for wildcard schemas.');
  init.push('WILDCARD_MODELS = {');
  for (const e of latest.filter((x) => x.pattern !== undefined)) {
    init.push(`    ${JSON.stringify(e.pattern)}: (${e.payload}, ${e.event}),`);
  }
  init.push('}', '');
  const union = [...new Set(exact.map(({ e }) => e.event))];
  if (union.length > 0) {
    init.push('#: Any event with a schema of its own, discriminated by its type.');
    init.push(`AnyEvent = Annotated[\n    Union[\n${union.map((u) => `        ${u},`).join('\n')}\n    ],`);
    init.push(`    Field(discriminator=${JSON.stringify(model.discriminator)}),\n]`);
    init.push('AnyEventAdapter = TypeAdapter(AnyEvent)', '');
    exported.push('AnyEvent', 'AnyEventAdapter');
  }
  exported.push('EVENT_MODELS', 'PAYLOAD_MODELS', 'WILDCARD_MODELS');
  init.push(`__all__ = [\n${exported.map((e) => `    ${JSON.stringify(e)},`).join('\n')}\n]`);
  files.set('__init__.py', `${init.join('\n')}\n`);
  return files;
}

function checkModuleCycles(modules: Map<string, ModuleOut>): void {
  const state = new Map<string, 1 | 2>();
  const visit = (name: string, path: string[]): void => {
    if (state.get(name) === 2) return;
    if (state.get(name) === 1) {
      throw new AppError(
        'SCHEMA_INVALID',
        `the Python modules would import each other (${[...path, name].join(' → ')}); move shared definitions to _common/ (recursive definitions that refer to each other from different folders are not supported in Python: keep them in one folder)`,
      );
    }
    state.set(name, 1);
    for (const dep of modules.get(name)?.imports.keys() ?? []) visit(dep, [...path, name]);
    state.set(name, 2);
  };
  for (const n of [...modules.keys()].sort()) visit(n, []);
}

function comment(text: string): string {
  return text
    .split(/\r\n|\r|\n/)
    .map((l) => `#: ${l}`)
    .join('\n');
}

function pyStr(s: string): string {
  return JSON.stringify(s);
}

function pyLit(v: Lit): string {
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  return typeof v === 'string' ? pyStr(v) : String(v);
}

function pyNum(n: number): string {
  if (!Number.isFinite(n)) return n > 0 ? 'float("inf")' : n < 0 ? 'float("-inf")' : 'float("nan")';
  if (Number.isInteger(n)) return BigInt(n).toString();
  return Number.isInteger(n) && Math.abs(n) < 1e21 ? String(n) : String(n).replace('e+', 'e');
}

function docstring(text: string, indent: string): string {
  // Every quote escaped: a description ending in `"` would otherwise close the docstring early.
  const t = text.replaceAll('\\', '\\\\').replaceAll('"', '\\"');
  return `${indent}"""${t}"""`;
}

/** The Python name of a member; `classes` are the model names the class body may refer to. */
function fieldName(name: string, classes: ReadonlyMap<string, string>): string {
  let n = name.replace(/[^A-Za-z0-9_]/g, '_');
  if (n === '' || /^[0-9_]/.test(n) || n.startsWith('model_')) n = `f_${n.replace(/^_+/, '')}`;
  if (PY_KEYWORDS.has(n) || MODEL_ATTRS.has(n) || ANNOTATION_NAMES.has(n) || classes.has(n)) n = `${n}_`;
  return n;
}

/**
 * A JSON Schema pattern (ECMA-262, `u` flag, as Ajv and Zod run it) in Python `re` syntax: `$`
 * is the end of the string (Python's also matches before a final newline), `.` does not match
 * line terminators, `\d` and `\w` are ASCII, named groups are spelled `(?P<name>...)`. Unicode
 * property escapes have no `re` equivalent and are refused.
 */
export function pythonPattern(p: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '\\') {
      const n = p[i + 1] ?? '';
      i++;
      if (n === 'd') out += inClass ? '0-9' : '[0-9]';
      else if (n === 'w') out += inClass ? 'A-Za-z0-9_' : '[A-Za-z0-9_]';
      else if (n === 'D' && !inClass) out += '[^0-9]';
      else if (n === 'W' && !inClass) out += '[^A-Za-z0-9_]';
      else if (n === 'p' || n === 'P') {
        throw new AppError(
          'SCHEMA_INVALID',
          `pattern '${p}': unicode property escapes (\\${n}{...}) have no equivalent in Python's re`,
        );
      } else if (n === 'k' && p[i + 1] === '<') {
        const end = p.indexOf('>', i);
        out += `(?P=${p.slice(i + 2, end)})`;
        i = end;
      } else if (n === 'u' && p[i + 1] === '{') {
        const end = p.indexOf('}', i);
        out += `\\U${p.slice(i + 2, end).padStart(8, '0')}`;
        i = end;
      } else out += `\\${n}`;
    } else if (inClass) {
      if (c === ']') inClass = false;
      out += c;
    } else if (c === '[') {
      // `[]` matches nothing and `[^]` anything in ECMA-262; Python reads a leading `]` as a literal.
      if (p.startsWith('[]', i)) {
        out += '(?!)';
        i += 1;
      } else if (p.startsWith('[^]', i)) {
        out += '[\\s\\S]';
        i += 2;
      } else {
        inClass = true;
        out += c;
        if (p[i + 1] === '^') out += p[++i];
        if (p[i + 1] === ']') out += `\\${p[++i]}`;
      }
    } else if (c === '$') out += '\\Z';
    else if (c === '.') out += '[^\\n\\r\\u2028\\u2029]';
    else if (c === '(' && p.startsWith('(?<', i) && p[i + 3] !== '=' && p[i + 3] !== '!') {
      out += '(?P<';
      i += 2;
    } else out += c;
  }
  return out;
}

class Emitter {
  readonly m: ModuleOut;
  readonly #home: Map<string, string>;
  readonly #module: string;

  constructor(m: ModuleOut, home: Map<string, string>, module: string) {
    this.m = m;
    this.#home = home;
    this.#module = module;
  }

  /** Whether `ir` refers to a definition of this module not defined yet (or to `self`): a forward reference. */
  forward(ir: IR, self: string): boolean {
    for (const r of refsOf(ir)) {
      if (r === self) return true;
      if (this.#home.get(r) === this.#module && !this.m.defined.includes(r)) return true;
    }
    return false;
  }

  /** An annotation, quoted when it has forward references (Pydantic resolves it later). */
  #annotation(ir: IR, expr: string, cls: string): string {
    if (!this.forward(ir, cls)) return expr;
    if (!this.m.rebuild.includes(cls)) this.m.rebuild.push(cls);
    return pyStr(expr);
  }

  use(name: string): void {
    const where = this.#home.get(name);
    if (where === undefined || where === this.#module) return;
    const set = this.m.imports.get(where) ?? new Set<string>();
    set.add(name);
    this.m.imports.set(where, set);
  }

  /** A class for an object IR; nested objects become classes named after their place. */
  cls(
    name: string,
    ir: IR & { k: 'object' },
    description: string | undefined,
    base?: string,
    baseProps: Prop[] = [],
  ): void {
    if (this.m.defined.includes(name))
      throw new AppError('SCHEMA_INVALID', `generated Python name '${name}' is used twice`);
    const extra = ir.additional === 'forbid' ? 'forbid' : 'allow';
    const body: string[] = [];
    if (description) body.push(docstring(description, '    '));
    // A member whose name is not a Python identifier is read by its alias only: validating by
    // the field's name would accept `{"class_": ...}` for a member named `class`.
    const aliased = [...ir.props, ...baseProps].some((p) => fieldName(p.name, this.#home) !== p.name);
    const byName = aliased ? 'validate_by_name=False' : 'populate_by_name=True';
    body.push(`    model_config = ConfigDict(extra=${pyStr(extra)}, strict=True, ${byName})`);
    if (aliased && ir.additional !== 'allow') body.push('    _json_members = _formats.json_members()');
    if (typeof ir.additional === 'object') {
      body.push(
        `    __pydantic_extra__: ${this.#annotation(ir.additional, `dict[str, ${this.expr(ir.additional, `${name}Extra`)}]`, name)} = Field(init=False)`,
      );
    }
    const used = new Set<string>();
    for (const p of ir.props) {
      const inherited = baseProps.find((b) => b.name === p.name);
      if (inherited && inherited.required === p.required && deepEqual(inherited.type, p.type)) continue;
      let field = fieldName(p.name, this.#home);
      while (used.has(field)) field = `${field}_`;
      used.add(field);
      const type = this.#annotation(p.type, this.expr(p.type, `${name}${pascal(p.name) || 'Field'}`), name);
      const args: string[] = [];
      if (!p.required) args.push('default=None');
      if (field !== p.name) args.push(`alias=${pyStr(p.name)}`);
      if (p.description) args.push(`description=${pyStr(p.description)}`);
      body.push(
        args.length === 0 ? `    ${field}: ${type}` : `    ${field}: ${type} = Field(${args.join(', ')})`,
      );
    }
    this.m.blocks.push(`class ${name}(${base ?? 'BaseModel'}):\n${body.join('\n')}\n`);
    this.m.defined.push(name);
  }

  expr(ir: IR, hint: string): string {
    switch (ir.k) {
      case 'any':
        return 'Any';
      case 'never':
        return 'Annotated[Any, AfterValidator(_formats.never)]';
      case 'null':
        return 'None';
      case 'boolean':
        return 'StrictBool';
      case 'string': {
        const field: string[] = [];
        const validators: string[] = [];
        // Pydantic counts code points, as JSON Schema does.
        if (ir.minLength !== undefined) field.push(`min_length=${ir.minLength}`);
        if (ir.maxLength !== undefined) field.push(`max_length=${ir.maxLength}`);
        for (const p of ir.patterns) {
          validators.push(`AfterValidator(_formats.matches(${pyStr(pythonPattern(p))}))`);
        }
        if (ir.format) {
          const fn = {
            uuid: 'uuid',
            'date-time': 'date_time',
            date: 'date_only',
            uri: 'uri',
            email: 'email',
          }[ir.format];
          validators.push(`AfterValidator(_formats.${fn})`);
        }
        return annotated('StrictStr', field, validators);
      }
      case 'number': {
        const field: string[] = [];
        if (ir.integer) {
          // Pydantic wants integer bounds on an integer (`minimum: 1.5` is `ge=2`), each given once.
          const los = [
            ir.minimum,
            ir.exclusiveMinimum === undefined ? undefined : Math.floor(ir.exclusiveMinimum) + 1,
          ];
          const his = [
            ir.maximum,
            ir.exclusiveMaximum === undefined ? undefined : Math.ceil(ir.exclusiveMaximum) - 1,
          ];
          const lo = los.filter((n) => n !== undefined).map(Math.ceil);
          const hi = his.filter((n) => n !== undefined).map(Math.floor);
          if (lo.length > 0) field.push(`ge=${pyNum(Math.max(...lo))}`);
          if (hi.length > 0) field.push(`le=${pyNum(Math.min(...hi))}`);
        } else {
          if (ir.minimum !== undefined) field.push(`ge=${pyNum(ir.minimum)}`);
          if (ir.maximum !== undefined) field.push(`le=${pyNum(ir.maximum)}`);
          if (ir.exclusiveMinimum !== undefined) field.push(`gt=${pyNum(ir.exclusiveMinimum)}`);
          if (ir.exclusiveMaximum !== undefined) field.push(`lt=${pyNum(ir.exclusiveMaximum)}`);
        }
        const validators =
          ir.multipleOf === undefined
            ? []
            : [`AfterValidator(_formats.multiple_of(${pyNum(ir.multipleOf)}))`];
        return annotated(ir.integer ? 'StrictInt' : 'StrictFloat', field, validators);
      }
      case 'literal': {
        const lit = `Literal[${ir.values.map(pyLit).join(', ')}]`;
        // Python's Literal takes True for 1 and 1 for True; JSON Schema does not.
        if (!ir.values.some((v) => typeof v === 'number' || typeof v === 'boolean')) return lit;
        return `Annotated[${lit}, _formats.exact(${ir.values.map(pyLit).join(', ')})]`;
      }
      case 'array': {
        const field: string[] = [];
        if (ir.minItems !== undefined) field.push(`min_length=${ir.minItems}`);
        if (ir.maxItems !== undefined) field.push(`max_length=${ir.maxItems}`);
        const validators = ir.unique ? ['AfterValidator(_formats.unique_items)'] : [];
        return annotated(`list[${this.expr(ir.items, `${hint}Item`)}]`, field, validators);
      }
      case 'object': {
        if (ir.props.length === 0 && ir.additional === 'allow') return 'dict[str, Any]';
        if (ir.props.length === 0 && typeof ir.additional === 'object') {
          return `dict[str, ${this.expr(ir.additional, `${hint}Value`)}]`;
        }
        // A nested class is named after its place; `a-b` and `a_b` both make `...AB`, so number repeats.
        let name = hint;
        for (let i = 2; this.m.defined.includes(name) || this.#home.has(name); i++) name = `${hint}${i}`;
        this.cls(name, ir, undefined);
        return name;
      }
      case 'union': {
        const opts = ir.options.map((o, i) => this.expr(o, `${hint}${i + 1}`));
        return `Union[${opts.join(', ')}]`;
      }
      case 'ref':
        this.use(ir.name);
        for (const r of refsOf(ir)) this.use(r);
        return ir.name;
    }
  }
}

function annotated(base: string, field: string[], validators: string[]): string {
  const parts = [base];
  if (field.length > 0) parts.push(`Field(${field.join(', ')})`);
  parts.push(...validators);
  return parts.length === 1 ? base : `Annotated[${parts.join(', ')}]`;
}
