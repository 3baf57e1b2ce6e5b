import { AppError } from '@33god/core';
import { deepEqual, type IR, type Lit, type Model, type Prop, pascal } from './ir.js';
import { refsOf, topoOrder } from './order.js';
import { GENERATED_HEADER } from './typescript.js';

const PY_KEYWORDS = new Set(
  (
    'False None True and as assert async await break class continue def del elif else except finally for from ' +
    'global if import in is lambda nonlocal not or pass raise return try while with yield match case type'
  ).split(' '),
);
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

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATE_TIME = re.compile(r"^\\d{4}-\\d{2}-\\d{2}[Tt]\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?([Zz]|[+-]\\d{2}:\\d{2})$")
_DATE = re.compile(r"^\\d{4}-\\d{2}-\\d{2}$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\\s]*$")
_EMAIL = re.compile(r"^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$")


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
      m = { name, blocks: [], imports: new Map(), defined: [] };
      modules.set(name, m);
    }
    return m;
  };
  const envelope = model.defs.find((d) => d.role === 'envelope');
  const envelopeProps = envelope?.type.k === 'object' ? envelope.type.props : [];
  for (const d of ordered) {
    const m = mod(d.module);
    const em = new Emitter(m, home, d.module);
    if (d.type.k === 'object') {
      const inherit = d.role === 'event' && envelope ? envelope.name : undefined;
      if (inherit) em.use(inherit);
      em.cls(d.name, d.type, d.description, inherit, inherit ? envelopeProps : []);
    } else {
      const expr = em.expr(d.type, d.name);
      if (d.description) em.m.blocks.push(comment(d.description));
      em.m.blocks.push(`${d.name} = ${expr}\n`);
      em.m.defined.push(d.name);
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
    for (const [other, imported] of [...m.imports.entries()].sort()) {
      lines.push(`from .${other} import ${[...imported].sort().join(', ')}`);
    }
    lines.push('', '');
    lines.push(m.blocks.join('\n\n'));
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
        `the Python modules would import each other (${[...path, name].join(' → ')}); move shared definitions to _common/`,
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
    .split('\n')
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
  return Number.isInteger(n) && Math.abs(n) < 1e21 ? String(n) : String(n).replace('e+', 'e');
}

function docstring(text: string, indent: string): string {
  const t = text.replaceAll('\\', '\\\\').replaceAll('"""', '\\"\\"\\"');
  return `${indent}"""${t}"""`;
}

function fieldName(name: string): string {
  let n = name.replace(/[^A-Za-z0-9_]/g, '_');
  if (/^[0-9_]/.test(n)) n = `f_${n.replace(/^_+/, '')}`;
  if (PY_KEYWORDS.has(n) || MODEL_ATTRS.has(n) || n.startsWith('model_')) n = `${n}_`;
  return n;
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
    body.push(`    model_config = ConfigDict(extra=${pyStr(extra)}, strict=True, populate_by_name=True)`);
    if (typeof ir.additional === 'object') {
      body.push(
        `    __pydantic_extra__: dict[str, ${this.expr(ir.additional, `${name}Extra`)}] = Field(init=False)`,
      );
    }
    const used = new Set<string>();
    for (const p of ir.props) {
      const inherited = baseProps.find((b) => b.name === p.name);
      if (inherited && inherited.required === p.required && deepEqual(inherited.type, p.type)) continue;
      let field = fieldName(p.name);
      while (used.has(field)) field = `${field}_`;
      used.add(field);
      const type = this.expr(p.type, `${name}${pascal(p.name) || 'Field'}`);
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
        for (const p of ir.patterns) validators.push(`AfterValidator(_formats.matches(${pyStr(p)}))`);
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
        if (ir.minimum !== undefined) field.push(`ge=${pyNum(ir.minimum)}`);
        if (ir.maximum !== undefined) field.push(`le=${pyNum(ir.maximum)}`);
        if (ir.exclusiveMinimum !== undefined) field.push(`gt=${pyNum(ir.exclusiveMinimum)}`);
        if (ir.exclusiveMaximum !== undefined) field.push(`lt=${pyNum(ir.exclusiveMaximum)}`);
        if (ir.multipleOf !== undefined) field.push(`multiple_of=${pyNum(ir.multipleOf)}`);
        return annotated(ir.integer ? 'StrictInt' : 'StrictFloat', field, []);
      }
      case 'literal':
        return `Literal[${ir.values.map(pyLit).join(', ')}]`;
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
        this.cls(hint, ir, undefined);
        return hint;
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
