/**
 * Schema trees and registries Holyfields has not seen: valid but unusual ones must load and
 * generate code that accepts and rejects what Ajv does (the generated Zod imported here, the
 * generated Pydantic imported by python3); broken ones must be refused with a message naming
 * the file (and the line or JSON pointer), never a stack trace, a hang or silently wrong code.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { isAppError } from '@33god/core';
import type { ZodType } from 'zod';
import { generateFiles } from '../src/generate/index.js';
import { pythonPattern } from '../src/generate/python.js';
import { loadSchemaTree, loadServiceRegistry, parseServiceRegistry } from '../src/index.js';
import { lintTree } from '../src/lint/lint.js';
import {
  generateArgs,
  generateInto,
  schemaId as id,
  RECURSIVE_NODE_TREE,
  ROOT,
  runNode,
  runPython,
  tempDir,
  treeWriter,
} from './support/generated.js';

const tmp = tempDir('unusual');
after(() => tmp.cleanup());

const tree = treeWriter(join(tmp.dir, 'trees'));

/** Instances one generated model must accept and reject, as Ajv does for the event type. */
interface Probe {
  type: string;
  model: string;
  valid: unknown[];
  invalid: unknown[];
}

const generatedDirs: string[] = [];

/**
 * Loads the tree, generates both languages, and checks Ajv, the generated Zod and the
 * generated Pydantic give the expected answer for every instance (each sent as JSON text).
 */
async function agree(name: string, dir: string, probes: Probe[]): Promise<void> {
  const registry = await loadSchemaTree(dir);
  const out = join(tmp.dir, 'out', name);
  const pkg = `models_${name.replace(/\W/g, '_')}`;
  await generateInto(registry, out, pkg);
  generatedDirs.push(join(out, 'ts'));
  const zod = (await import(pathToFileURL(join(out, 'ts', 'events.ts')).href)) as Record<string, ZodType>;
  const cases = probes.flatMap((p) => [
    ...p.valid.map((v) => ({ p, json: JSON.stringify(v), expected: true })),
    ...p.invalid.map((v) => ({ p, json: JSON.stringify(v), expected: false })),
  ]);
  const python = runPython(
    join(out, 'python'),
    pkg,
    cases.map((c) => ({ model: c.p.model, json: c.json })),
  );
  const wrong: string[] = [];
  cases.forEach((c, i) => {
    const schema = zod[c.p.model];
    assert.ok(schema, `the generated module exports ${c.p.model}`);
    const ajv = registry.validateSchema(c.p.type, JSON.parse(c.json)).ok;
    const z = schema.safeParse(JSON.parse(c.json)).success;
    if (ajv !== c.expected || z !== c.expected || python[i] !== c.expected) {
      wrong.push(`${c.p.model} ${c.json}: expected ${c.expected}, ajv=${ajv} zod=${z} pydantic=${python[i]}`);
    }
  });
  assert.deepEqual(wrong, []);
}

/** A refusal: non-zero exit, the file and the problem named, no stack trace. */
function refused(args: string[], file: string, problem: RegExp): string {
  const r = runNode(args);
  const text = r.stdout + r.stderr;
  assert.equal(r.code, 1, `${args[0]} exits 1: ${text}`);
  assert.ok(text.includes(file), `names ${file}: ${text}`);
  assert.match(text, problem);
  assert.doesNotMatch(text, /\n\s+at .+:\d+:\d+/, 'no stack trace');
  return text;
}

describe('unusual but valid trees: Ajv, generated Zod and generated Pydantic agree', {
  timeout: 240_000,
}, () => {
  test('$ref forms: JSON-pointer escapes ~0 ~1, percent-encoding, definitions, $anchor, deep folders', async () => {
    const defs = '_common/deep/er/defs.v1.json';
    const dir = tree('refs', {
      [defs]: {
        $id: id(defs),
        $defs: {
          'a/b': { type: 'string' },
          'c~d': { type: 'integer' },
          'sp ace': { type: 'boolean' },
          'pct%': { type: 'null' },
          anchored: { $anchor: 'here', type: 'string', maxLength: 2 },
        },
        definitions: { old: { type: 'number', minimum: 0 } },
      },
      'x/y/z/w.created.v1.json': {
        $id: id('x/y/z/w.created.v1.json'),
        type: 'object',
        required: ['a', 'c', 's', 'o'],
        additionalProperties: false,
        properties: {
          a: { $ref: '../../../_common/deep/er/defs.v1.json#/$defs/a~1b' },
          c: { $ref: '../../../_common/deep/er/defs.v1.json#/$defs/c~0d' },
          s: { $ref: '../../../_common/deep/er/defs.v1.json#/$defs/sp%20ace' },
          p: { $ref: `${id(defs)}#/$defs/pct%25` },
          o: { $ref: '../../../_common/deep/er/defs.v1.json#/definitions/old' },
          h: { $ref: '../../../_common/deep/er/defs.v1.json#here' },
        },
      },
    });
    const ok = { a: 'x', c: 1, s: true, o: 2 };
    await agree('refs', dir, [
      {
        type: 'x.y.z.w.created',
        model: 'XYZWCreatedV1Payload',
        valid: [ok, { ...ok, p: null, h: 'ab' }],
        invalid: [
          { ...ok, a: 1 },
          { ...ok, c: 1.5 },
          { ...ok, s: 'yes' },
          { ...ok, o: -1 },
          { ...ok, p: 0 },
          { ...ok, h: 'abc' },
          { ...ok, extra: 1 },
        ],
      },
    ]);
  });

  test('member names: reserved words, Object.prototype names, punctuation, unicode, empty, names that collide once sanitized', async () => {
    const names = [
      'class',
      'from',
      'import',
      'def',
      'None',
      'True',
      'self',
      'async',
      'constructor',
      'toString',
      'hasOwnProperty',
      'valueOf',
      '__init__',
      '_private',
      'with-hyphen',
      'with space',
      'dot.ted',
      '1lead',
      'ünï',
      '',
      'Case',
      'case',
      'a-b',
      'a_b',
      'model_config',
      'model_dump',
      'schema',
      'Literal',
      'Field',
      'list',
      'Shared',
    ];
    const dir = tree('names', {
      '_common/types.v1.json': {
        $id: id('_common/types.v1.json'),
        $defs: { shared: { type: 'object', properties: { v: { type: 'string' } } } },
      },
      'n/thing.created.v1.json': {
        $id: id('n/thing.created.v1.json'),
        type: 'object',
        required: ['class'],
        properties: {
          ...Object.fromEntries(names.map((n) => [n, { type: 'string' }])),
          'a-b': { type: 'integer' },
          Shared: { $ref: '../_common/types.v1.json#/$defs/shared' },
          other: { $ref: '../_common/types.v1.json#/$defs/shared' },
          Literal: { const: 'lit' },
        },
      },
      'n/closed.created.v1.json': {
        type: 'object',
        additionalProperties: false,
        properties: Object.fromEntries(
          ['class', 'constructor', 'a-b', 'a_b'].map((n) => [n, { type: 'string' }]),
        ),
      },
    });
    const all: Record<string, unknown> = Object.fromEntries(names.map((n) => [n, `v-${n}`]));
    Object.assign(all, { 'a-b': 1, Shared: { v: 's' }, other: { v: 'o' }, Literal: 'lit' });
    await agree('names', dir, [
      {
        type: 'n.thing.created',
        model: 'NThingCreatedV1Payload',
        valid: [
          { class: 'x' },
          all,
          { class: 'x', a_b: 'string here' },
          { class: 'x', 'a-b': 2 },
          { class: 'x', class_: 1 },
        ],
        invalid: [
          {},
          // Python's name for `class` is not a way to send `class`.
          { class_: 'x' },
          { class: 1 },
          { class: 'x', constructor: 1 },
          { class: 'x', valueOf: 1 },
          { class: 'x', a_b: 1 },
          { class: 'x', 'a-b': 'x' },
          { class: 'x', '': 1 },
          { class: 'x', Literal: 'other' },
          { class: 'x', Shared: { v: 1 } },
        ],
      },
      {
        type: 'n.closed.created',
        model: 'NClosedCreatedV1Payload',
        valid: [{}, { constructor: 'c', 'a-b': 'x', a_b: 'y' }],
        invalid: [{ constructor: 1 }, { class_: 'x' }, { a_b_: 'x' }, { toString: 'x' }],
      },
    ]);
  });

  test('const and enum: numbers are not booleans, mixed and nullable enums, type arrays, duplicates', async () => {
    const dir = tree('literals', {
      'l/value.created.v1.json': {
        type: 'object',
        properties: {
          zero: { const: 0 },
          one: { const: 1 },
          yes: { const: true },
          nums: { enum: [1, 2.5] },
          mixed: { enum: ['a', 1, null, true] },
          nullable: { type: ['string', 'null'] },
          nullableEnum: { type: ['string', 'null'], enum: ['x', null] },
          dup: { enum: ['x', 'x', 'y'] },
          strings: { enum: ['a"b', 'c\\d', '\u2028', "it's", '*/'] },
          nothing: { const: null },
        },
      },
    });
    await agree('literals', dir, [
      {
        type: 'l.value.created',
        model: 'LValueCreatedV1Payload',
        valid: [
          { zero: 0, one: 1, yes: true, nums: 2.5, mixed: null, nullable: null, nullableEnum: null },
          { mixed: 'a', nullable: 'x', nullableEnum: 'x', dup: 'x', strings: 'c\\d', nothing: null },
          { mixed: 1, strings: '*/' },
          { mixed: true, strings: '\u2028' },
        ],
        invalid: [
          { zero: false },
          { one: true },
          { yes: 1 },
          { nums: true },
          { nums: 3 },
          { mixed: false },
          { mixed: 0 },
          { nullable: 1 },
          { nullableEnum: 'y' },
          { dup: 'z' },
          { nothing: 0 },
        ],
      },
    ]);
  });

  test('numbers: multipleOf as Ajv computes it, fractional and huge bounds on integers', async () => {
    const dir = tree('numbers', {
      'n/measure.created.v1.json': `{
        "type": "object",
        "properties": {
          "tenth": { "type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "multipleOf": 0.1 },
          "five": { "type": "integer", "minimum": -5, "maximum": 5, "multipleOf": 5 },
          "frac": { "type": "integer", "minimum": 1.5, "exclusiveMaximum": 10.5 },
          "both": { "type": "integer", "minimum": 0, "exclusiveMinimum": 2 },
          "big": { "type": "integer", "maximum": 1e308 },
          "open": { "type": "number", "minimum": -1e400, "maximum": 1e400 },
          "huge": { "enum": [1e400, 3] }
        }
      }`,
    });
    await agree('numbers', dir, [
      {
        type: 'n.measure.created',
        model: 'NMeasureCreatedV1Payload',
        valid: [
          { tenth: 0.1 },
          { tenth: 0.2 },
          { five: 5 },
          { five: 0 },
          { frac: 2 },
          { frac: 10 },
          { both: 3 },
          { big: 7 },
          { open: -1e300 },
          { huge: 3 },
        ],
        // 0.3 / 0.1 is 2.9999999999999996 in double precision: Ajv (the registry) rejects 0.3.
        invalid: [
          { tenth: 0.3 },
          { tenth: 0.7 },
          { tenth: 0 },
          { five: 3 },
          { five: 10 },
          { frac: 1 },
          { frac: 11 },
          { both: 2 },
          { big: 1.5 },
          { huge: 4 },
        ],
      },
    ]);
  });

  test('patterns and formats: Python runs the ECMA-262 pattern, not its own reading of it', async () => {
    const dir = tree('patterns', {
      'p/text.created.v1.json': {
        type: 'object',
        properties: {
          end: { type: 'string', pattern: '^[a-z]+$' },
          digits: { type: 'string', pattern: '^\\d+$' },
          word: { type: 'string', pattern: '^\\w+$' },
          named: { type: 'string', pattern: '^(?<y>[0-9]{4})-\\k<y>$' },
          dot: { type: 'string', pattern: '^a.b$' },
          inClass: { type: 'string', pattern: '^[\\d$]+$' },
          dollar: { type: 'string', pattern: '^a\\$b$' },
          email: { type: 'string', format: 'email' },
          uuid: { type: 'string', format: 'uuid' },
          date: { type: 'string', format: 'date' },
        },
      },
    });
    await agree('patterns', dir, [
      {
        type: 'p.text.created',
        model: 'PTextCreatedV1Payload',
        valid: [
          {
            end: 'abc',
            digits: '123',
            word: 'ab_1',
            named: '2024-2024',
            dot: 'a-b',
            inClass: '1$2',
            dollar: 'a$b',
          },
          {
            email: 'first.last+tag@sub.example.com',
            uuid: '01936F4E-8C2A-7B3D-9E4F-5A6B7C8D9E0F',
            date: '2024-02-29',
          },
        ],
        invalid: [
          { end: 'abc\n' },
          { digits: '١٢٣' },
          { digits: '12\n' },
          { word: 'héllo' },
          { named: '2024-2025' },
          { dot: 'a\rb' },
          { dot: 'a\u2028b' },
          { inClass: '1\n' },
          { dollar: 'a$b\n' },
          { email: 'é@example.com' },
          { email: 'a..b@example.com' },
          { email: 'a@-example.com' },
          { email: 'a@example.com\n' },
          { uuid: '01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9e0f\n' },
          { date: '2026-02-30' },
          { date: '2026-01-01\n' },
        ],
      },
    ]);
  });

  test('oneOf: a discriminated union of objects and disjoint types generate; overlapping alternatives are refused', async () => {
    const shape = '_common/shapes.v1.json';
    const dir = tree('unions', {
      [shape]: {
        $id: id(shape),
        $defs: {
          circle: {
            type: 'object',
            properties: { kind: { const: 'circle' }, r: { type: 'number' } },
            required: ['kind', 'r'],
          },
          square: {
            type: 'object',
            properties: { kind: { const: 'square' }, side: { type: 'number' } },
            required: ['kind'],
            additionalProperties: false,
          },
        },
      },
      'u/shape.created.v1.json': {
        $id: id('u/shape.created.v1.json'),
        type: 'object',
        properties: {
          shape: {
            oneOf: [
              { $ref: '../_common/shapes.v1.json#/$defs/circle' },
              { $ref: '../_common/shapes.v1.json#/$defs/square' },
            ],
          },
          inline: {
            oneOf: [
              { type: 'object', properties: { t: { enum: ['a', 'b'] } }, required: ['t'] },
              {
                type: 'object',
                properties: { t: { const: 'c' }, n: { type: 'integer' } },
                required: ['t', 'n'],
              },
            ],
          },
          scalar: { oneOf: [{ type: 'string' }, { type: 'integer' }, { type: 'null' }] },
          any: {
            anyOf: [
              { type: 'string', maxLength: 2 },
              { type: 'string', pattern: '^z' },
            ],
          },
        },
      },
    });
    await agree('unions', dir, [
      {
        type: 'u.shape.created',
        model: 'UShapeCreatedV1Payload',
        valid: [
          { shape: { kind: 'circle', r: 1 }, inline: { t: 'a' }, scalar: 'x', any: 'ab' },
          { shape: { kind: 'square' }, inline: { t: 'c', n: 1 }, scalar: null, any: 'zzzz' },
          { shape: { kind: 'square', side: 2 }, scalar: 3 },
        ],
        invalid: [
          { shape: { kind: 'circle' } },
          { shape: { kind: 'square', r: 1 } },
          { shape: { kind: 'triangle' } },
          { inline: { t: 'c' } },
          { inline: { t: 'd' } },
          { scalar: 1.5 },
          { scalar: true },
          { any: 'abc' },
        ],
      },
    ]);
    const overlapping = tree('overlap', {
      'u/shape.created.v1.json': {
        type: 'object',
        properties: { n: { oneOf: [{ type: 'number' }, { type: 'integer' }] } },
      },
    });
    refused(
      generateArgs(overlapping, 'ts', join(tmp.dir, 'overlap-out')),
      'u/shape.created.v1.json',
      /oneOf alternatives that can overlap are not supported/,
    );
  });

  test('objects and arrays: additionalProperties true/false/schema, items, bounds, uniqueItems, annotations', async () => {
    const dir = tree('objects', {
      'o/bag.created.v1.json': {
        type: 'object',
        required: ['id'],
        properties: {
          id: {
            type: 'string',
            format: 'uuid',
            deprecated: true,
            default: '00000000-0000-0000-0000-000000000000',
          },
          open: { type: 'object', additionalProperties: true },
          closed: { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false },
          typed: {
            type: 'object',
            properties: { a: { type: 'string' } },
            additionalProperties: { type: 'integer' },
          },
          map: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
          list: {
            type: 'array',
            items: { type: 'string', minLength: 2 },
            minItems: 1,
            maxItems: 2,
            uniqueItems: true,
          },
          objs: {
            type: 'array',
            items: { type: 'object', properties: { k: { type: 'integer' } } },
            uniqueItems: true,
          },
          text: { type: 'string', minLength: 1, maxLength: 3, examples: ['x'], readOnly: true },
          anything: true,
          gone: false,
        },
      },
    });
    const uuid = '01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9e0f';
    await agree('objects', dir, [
      {
        type: 'o.bag.created',
        model: 'OBagCreatedV1Payload',
        valid: [
          { id: uuid },
          { id: uuid, open: { x: [1] }, closed: { a: 'y' }, typed: { a: 'b', n: 1 }, map: { k: ['v'] } },
          { id: uuid, list: ['ab', 'cd'], objs: [{ k: 1 }, { k: 2 }], text: '😀😀😀', anything: [null] },
        ],
        invalid: [
          {},
          { id: 'nope' },
          { id: uuid, closed: { b: 1 } },
          { id: uuid, typed: { n: 'x' } },
          { id: uuid, typed: { a: 1 } },
          { id: uuid, map: { k: [1] } },
          { id: uuid, list: [] },
          { id: uuid, list: ['ab', 'ab'] },
          { id: uuid, list: ['ab', 'cd', 'ef'] },
          { id: uuid, list: ['a'] },
          { id: uuid, objs: [{ k: 1 }, { k: 1 }] },
          { id: uuid, text: '' },
          { id: uuid, text: 'abcd' },
          { id: uuid, gone: null },
        ],
      },
    ]);
  });

  test('descriptions and titles that could break comments, docstrings and strings', async () => {
    const nasty =
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a description holding template syntax
      'ends with "quote" */ """ triple \\ backslash ${x} `tick`\nsecond line\rcarriage ( return\u2028sep';
    const dir = tree('descriptions', {
      '_common/d.v1.json': {
        $id: id('_common/d.v1.json'),
        $defs: {
          label: { type: 'string', description: nasty, title: nasty },
          obj: { type: 'object', description: 'x"' },
        },
      },
      'd/note.created.v1.json': {
        $id: id('d/note.created.v1.json'),
        title: nasty,
        description: `${nasty}"`,
        type: 'object',
        properties: {
          a: { type: 'string', description: nasty },
          l: { $ref: '../_common/d.v1.json#/$defs/label' },
          o: { $ref: '../_common/d.v1.json#/$defs/obj' },
          nested: {
            type: 'object',
            description: nasty,
            properties: { b: { type: 'integer', description: '"""' } },
          },
        },
      },
    });
    await agree('descriptions', dir, [
      {
        type: 'd.note.created',
        model: 'DNoteCreatedV1Payload',
        valid: [{ a: 'x', l: 'y', o: {}, nested: { b: 1 } }],
        invalid: [{ a: 1 }, { l: 2 }, { nested: { b: 'x' } }],
      },
    ]);
  });

  test('definition and folder names that clash with generated code, builtins and each other', async () => {
    const defNames = [
      'none',
      'true',
      'object',
      'array',
      'set',
      'JSON',
      'number',
      'RegExp',
      'URI',
      'EMAIL',
      'Literal',
      'field',
    ];
    const dir = tree('clashes', {
      '_common/t.v1.json': {
        $id: id('_common/t.v1.json'),
        $defs: {
          ...Object.fromEntries(defNames.map((n) => [n, { type: 'string', minLength: 1 }])),
          Item: { type: 'string' },
          item: { type: 'integer' },
        },
      },
      '_other/t.v1.json': { $id: id('_other/t.v1.json'), $defs: { Item: { type: 'boolean' } } },
      'class/thing.created.v1.json': {
        $id: id('class/thing.created.v1.json'),
        type: 'object',
        properties: {
          ...Object.fromEntries(defNames.map((n) => [n, { $ref: `../_common/t.v1.json#/$defs/${n}` }])),
          i1: { $ref: '../_common/t.v1.json#/$defs/Item' },
          i2: { $ref: '../_common/t.v1.json#/$defs/item' },
          i3: { $ref: '../_other/t.v1.json#/$defs/Item' },
          'a-b': { type: 'object', properties: { x: { type: 'string' } } },
          a_b: { type: 'object', properties: { y: { type: 'integer' } } },
          AB: { type: 'object', properties: { z: { type: 'boolean' } } },
        },
      },
      'import/thing.created.v1.json': { type: 'object', properties: { q: { type: 'string' } } },
      '1st/thing.created.v1.json': { type: 'object' },
    });
    await agree('clashes', dir, [
      {
        type: 'class.thing.created',
        model: 'ClassThingCreatedV1Payload',
        valid: [
          { none: 'x', true: 'y', JSON: 'j', URI: 'u', i1: 's', i2: 1, i3: true },
          { 'a-b': { x: 's' }, a_b: { y: 1 }, AB: { z: true } },
        ],
        invalid: [
          { none: '' },
          { URI: 1 },
          { i1: 1 },
          { i2: 's' },
          { i3: 's' },
          { 'a-b': { x: 1 } },
          { a_b: { y: 's' } },
          { AB: { z: 1 } },
        ],
      },
      {
        type: 'import.thing.created',
        model: 'ImportThingCreatedV1Payload',
        valid: [{ q: 'x' }],
        invalid: [{ q: 1 }],
      },
      { type: '1st.thing.created', model: 'T1stThingCreatedV1Payload', valid: [{}], invalid: [[]] },
    ]);
  });

  test('a draft-07 tree ($schema, definitions) loads, validates and generates', async () => {
    const dir = tree('draft07', {
      'd/old.created.v1.json': {
        $schema: 'http://json-schema.org/draft-07/schema#',
        type: 'object',
        definitions: { pos: { type: 'integer', minimum: 1 } },
        properties: { p: { $ref: '#/definitions/pos' }, t: { type: 'array', items: { type: 'string' } } },
        required: ['p'],
      },
    });
    await agree('draft07', dir, [
      {
        type: 'd.old.created',
        model: 'DOldCreatedV1Payload',
        valid: [{ p: 1 }, { p: 2, t: ['a'] }],
        invalid: [{}, { p: 0 }, { p: 1, t: [1] }],
      },
    ]);
    const tuple = tree('draft07-tuple', {
      'd/old.created.v1.json': {
        $schema: 'http://json-schema.org/draft-07/schema#',
        type: 'array',
        items: [{ type: 'string' }],
      },
    });
    refused(['lint', '--schemas', tuple], 'd/old.created.v1.json', /items/);
    const draft04 = tree('draft04', {
      'd/old.created.v1.json': { $schema: 'http://json-schema.org/draft-04/schema#', type: 'object' },
    });
    refused(
      generateArgs(draft04, 'ts', join(tmp.dir, 'draft04-out')),
      'd/old.created.v1.json',
      /\$schema 'http:\/\/json-schema\.org\/draft-04\/schema#' is not supported/,
    );
  });

  test('recursive schemas: $defs, "#", mutual across files, whole files, a location, a recursive union', async () => {
    const dir = tree('recursive', {
      ...RECURSIVE_NODE_TREE,
      'self/thing.created.v1.json': {
        $id: id('self/thing.created.v1.json'),
        type: 'object',
        additionalProperties: false,
        required: ['label'],
        properties: {
          label: { type: 'string', pattern: '^[a-z]+$' },
          parent: { $ref: '#' },
          tags: { type: 'object', additionalProperties: { $ref: '#' } },
        },
      },
      '_common/forest.v1.json': {
        $id: id('_common/forest.v1.json'),
        $defs: {
          forest: {
            type: 'object',
            required: ['trees'],
            properties: { trees: { type: 'array', items: { $ref: 'tree.v1.json#/$defs/tree' } } },
          },
        },
      },
      '_common/tree.v1.json': {
        $id: id('_common/tree.v1.json'),
        $defs: {
          tree: {
            type: 'object',
            required: ['name'],
            properties: {
              name: { type: 'string' },
              forest: { $ref: 'forest.v1.json#/$defs/forest' },
              value: { anyOf: [{ type: 'integer' }, { $ref: '#/$defs/json' }] },
            },
          },
          json: { anyOf: [{ type: 'string' }, { type: 'array', items: { $ref: '#/$defs/json' } }] },
        },
      },
      'garden/planted.v1.json': {
        $id: id('garden/planted.v1.json'),
        type: 'object',
        required: ['forest'],
        properties: { forest: { $ref: '../_common/forest.v1.json#/$defs/forest' } },
      },
      '_common/a.v1.json': {
        $id: id('_common/a.v1.json'),
        type: 'object',
        properties: { b: { $ref: 'b.v1.json' } },
      },
      '_common/b.v1.json': {
        $id: id('_common/b.v1.json'),
        type: 'object',
        properties: { a: { $ref: 'a.v1.json' }, n: { type: 'integer' } },
      },
      'm/node.created.v1.json': {
        $id: id('m/node.created.v1.json'),
        type: 'object',
        properties: { root: { $ref: '../_common/a.v1.json' } },
      },
      'c/map.created.v1.json': {
        $id: id('c/map.created.v1.json'),
        type: 'object',
        required: ['a'],
        properties: { a: { type: 'string' } },
        additionalProperties: { $ref: '#' },
      },
      'loc/list.created.v1.json': {
        $id: id('loc/list.created.v1.json'),
        type: 'object',
        properties: {
          item: {
            type: 'object',
            required: ['v'],
            properties: { v: { type: 'integer' }, next: { $ref: '#/properties/item' } },
          },
        },
      },
    });
    const deep = (leaf: unknown) => ({ name: 'a', children: [{ name: 'b', children: [leaf] }] });
    const forest = (value: unknown) => ({
      forest: { trees: [{ name: 'oak', forest: { trees: [{ name: 'fir', value }] } }] },
    });
    await agree('recursive', dir, [
      {
        type: 'tree.node.created',
        model: 'TreeNodeCreatedV1Payload',
        valid: [{ name: 'a' }, { name: 'a', children: [] }, deep({ name: 'c', children: [] })],
        invalid: [
          { name: 'a', children: [{ children: [] }] },
          deep({ name: 3 }),
          deep({ name: 'c', children: [{}] }),
          deep({ name: 'c', children: {} }),
          { children: [] },
        ],
      },
      {
        type: 'tree.node.created',
        model: 'Node',
        valid: [deep({ name: 'c' })],
        invalid: [deep({ name: 'c', children: [{ name: null }] })],
      },
      {
        type: 'self.thing.created',
        model: 'SelfThingCreatedV1Payload',
        valid: [
          { label: 'a' },
          { label: 'a', parent: { label: 'b', parent: { label: 'c' } } },
          { label: 'a', tags: { x: { label: 'b', tags: { y: { label: 'c' } } } } },
        ],
        invalid: [
          { label: 'a', parent: { label: 'b', parent: { label: 'C' } } },
          { label: 'a', parent: {} },
          { label: 'a', tags: { x: { label: 'b', extra: 1 } } },
          { label: 'a', parent: null },
        ],
      },
      {
        type: 'garden.planted',
        model: 'GardenPlantedV1Payload',
        valid: [{ forest: { trees: [] } }, forest(3), forest(['x', ['y', []]]), forest('s')],
        invalid: [
          { forest: {} },
          { forest: { trees: [{ name: 'oak', forest: { trees: [{ name: 1 }] } }] } },
          forest(['x', [1]]),
          forest(1.5),
          forest({}),
        ],
      },
      {
        type: 'm.node.created',
        model: 'MNodeCreatedV1Payload',
        valid: [{ root: { b: { a: { b: {} } } } }, { root: { b: { n: 1, a: { b: { n: 2 } } } } }],
        invalid: [{ root: { b: { a: { b: 1 } } } }, { root: { b: { a: { b: { n: 'x' } } } } }],
      },
      {
        type: 'c.map.created',
        model: 'CMapCreatedV1Payload',
        valid: [{ a: 'x' }, { a: 'x', k: { a: 'y', j: { a: 'z' } } }],
        invalid: [
          { a: 'x', k: { a: 'y', j: { a: 1 } } },
          { a: 'x', k: 3 },
          { a: 'x', k: { a: 'y', j: {} } },
        ],
      },
      {
        type: 'loc.list.created',
        model: 'LocListCreatedV1Payload',
        valid: [{}, { item: { v: 1, next: { v: 2, next: { v: 3 } } } }],
        invalid: [{ item: { v: 1, next: { v: 2, next: { v: '3' } } } }, { item: { v: 1, next: {} } }],
      },
    ]);
    // The TypeScript types are the recursive types: they take deep values and refuse wrong ones.
    const ts = join(tmp.dir, 'out', 'recursive', 'ts');
    const events = readFileSync(join(ts, 'events.ts'), 'utf8');
    assert.match(events, /export const Node: z\.ZodType<Node> = z\.lazy\(/);
    assert.match(events, /export type Json = string \| Json\[\];/);
    writeFileSync(
      join(ts, 'recursive-types.ts'),
      [
        "import type { Forest, Json, Node, SelfThingCreatedV1Payload, TreeNodeCreatedV1Payload } from './events.js';",
        "export const n: TreeNodeCreatedV1Payload = { name: 'a', children: [{ name: 'b', children: [{ name: 'c' }] }] };",
        '// @ts-expect-error a child without a name',
        "export const b1: Node = { name: 'a', children: [{ children: [] }] };",
        '// @ts-expect-error a wrong type 3 levels deep',
        "export const b2: Node = { name: 'a', children: [{ name: 'b', children: [{ name: 3 }] }] };",
        "export const j: Json = ['a', ['b', []]];",
        '// @ts-expect-error a number in a Json',
        "export const b3: Json = ['a', [1]];",
        "export const s: SelfThingCreatedV1Payload = { label: 'a', parent: { label: 'b' }, tags: { x: { label: 'c' } } };",
        '// @ts-expect-error a closed model',
        "export const b4: SelfThingCreatedV1Payload = { label: 'a', parent: { label: 'b', extra: 1 } };",
        "export const f: Forest = { trees: [{ name: 'oak', forest: { trees: [] }, value: ['x'] }] };",
        'export const name: string | undefined = n.children?.[0]?.children?.[0]?.name;',
        '',
      ].join('\n'),
    );
    const r = spawnSync(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ts, 'tsconfig.json')],
      { encoding: 'utf8', timeout: 200_000 },
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
    // Non-recursive definitions keep their plain form.
    assert.match(events, /export const GardenPlantedV1Payload = z\.looseObject\(/);
    assert.match(events, /export const AnyEvent = z\.discriminatedUnion\(/);
  });

  test('an empty tree generates modules that import and type-check', async () => {
    const dir = tree('empty', { 'README.md': 'no schemas yet\n' });
    assert.deepEqual(await lintTree(dir), []);
    await agree('empty', dir, []);
    const files = generateFiles(await loadSchemaTree(dir), ['python'], { pythonPackage: 'p' });
    assert.match(files.get('p/__init__.py') ?? '', /EVENT_MODELS = \{\n\}/);
  });

  test('every generated TypeScript module type-checks', () => {
    assert.ok(generatedDirs.length >= 10, 'the tests above generated their modules');
    const config = join(tmp.dir, 'out', 'tsconfig.json');
    const base = JSON.parse(readFileSync(join(generatedDirs[0]!, 'tsconfig.json'), 'utf8')) as {
      compilerOptions: object;
    };
    writeFileSync(
      config,
      JSON.stringify({
        compilerOptions: base.compilerOptions,
        files: generatedDirs.map((d) => join(d, 'events.ts')),
      }),
    );
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', config], {
      encoding: 'utf8',
      timeout: 200_000,
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});

describe('pythonPattern: ECMA-262 patterns in Python re syntax', () => {
  test('end anchors, classes, dots, named groups; unicode property escapes refused', () => {
    assert.equal(pythonPattern('^[a-z]+$'), '^[a-z]+\\Z');
    assert.equal(pythonPattern('^\\d+\\.\\w$'), '^[0-9]+\\.[A-Za-z0-9_]\\Z');
    assert.equal(pythonPattern('[\\d$.]'), '[0-9$.]');
    assert.equal(pythonPattern('(?<y>a)\\k<y>(?<=b)(?<!c)'), '(?P<y>a)(?P=y)(?<=b)(?<!c)');
    assert.equal(pythonPattern('a.b'), 'a[^\\n\\r\\u2028\\u2029]b');
    assert.equal(pythonPattern('\\u{1F600}'), '\\U0001F600');
    assert.throws(() => pythonPattern('^\\p{L}+$'), /unicode property escapes/);
  });
});

describe('broken trees: refused naming the file and the line or pointer, no stack trace', {
  timeout: 240_000,
}, () => {
  const generate = (dir: string) => generateArgs(dir, 'all', join(tmp.dir, 'never'));

  test('malformed JSON: the line and column', async () => {
    const dir = tree('malformed', {
      'a/b.created.v1.json':
        '{\n  "type": "object",\n  "properties": {\n    "x": { "type": "string", }\n  }\n}\n',
    });
    for (const args of [['lint', '--schemas', dir], generate(dir)]) {
      refused(args, 'a/b.created.v1.json', /line 4, column 30/);
    }
  });

  test('duplicate keys (JSON.parse would keep the last silently)', async () => {
    const dir = tree('dupkeys', {
      'a/b.created.v1.json':
        '{\n  "type": "object",\n  "properties": { "x": { "type": "string", "type": "integer" } }\n}\n',
    });
    await assert.rejects(loadSchemaTree(dir), (err: unknown) => {
      assert.ok(isAppError(err));
      assert.equal(err.code, 'SCHEMA_PARSE_ERROR');
      assert.equal(err.violations[0]?.pointer, '/properties/x');
      return true;
    });
    refused(generate(dir), 'a/b.created.v1.json', /duplicate key "type" \(line 3, column 44\)/);
  });

  test('bytes that are not UTF-8 are refused; a byte order mark is ignored', async () => {
    const bad = tree('latin1', {
      'a/b.created.v1.json': Buffer.concat([
        Buffer.from('{\n"description": "caf'),
        Buffer.from([0xe9]),
        Buffer.from('"}'),
      ]),
    });
    refused(['lint', '--schemas', bad], 'a/b.created.v1.json', /not valid UTF-8 \(line 2/);
    refused(generate(bad), 'a/b.created.v1.json', /SCHEMA_PARSE_ERROR/);
    const bom = tree('bom', {
      'a/b.created.v1.json': '\ufeff{"type":"object","properties":{"x":{"type":"string"}}}',
    });
    assert.equal((await loadSchemaTree(bom)).validateSchema('a.b.created', { x: 1 }).ok, false);
  });

  test('very deep nesting is refused before anything recurses into it', async () => {
    let deep = '{"type":"string"}';
    for (let i = 0; i < 5000; i++) deep = `{"type":"object","properties":{"a":${deep}}}`;
    const dir = tree('deep', { 'a/b.created.v1.json': deep });
    const arrays = tree('deep-examples', {
      'a/b.created.v1.json': `{"type":"object","examples":[${'['.repeat(100_000)}${']'.repeat(100_000)}]}`,
    });
    for (const d of [dir, arrays]) {
      for (const args of [['lint', '--schemas', d], generate(d), ['bundle', '--schemas', d]]) {
        refused(args, 'a/b.created.v1.json', /nested more than 256 levels deep/);
      }
    }
  });

  test('a $ref leaving the tree (relative, file: or http) is refused, never read', async () => {
    for (const ref of [
      '../../../../../../etc/passwd',
      'file:///etc/passwd',
      'https://example.org/remote.json',
    ]) {
      const dir = tree(`escape-${ref.length}`, {
        'a/b.created.v1.json': { type: 'object', properties: { x: { $ref: ref } } },
      });
      const text = refused(generate(dir), 'a/b.created.v1.json', /SCHEMA_REF_UNRESOLVED/);
      assert.ok(text.includes(`'${ref}'`) && text.includes('/properties/x'), text);
      assert.doesNotMatch(text, /root:/);
    }
  });

  test('$ref chains that never reach a schema: to itself, and through two definitions', async () => {
    const self = tree('self-ref', { 'a/b.created.v1.json': { $ref: '#' } });
    refused(['lint', '--schemas', self], 'a/b.created.v1.json', /circular \$ref/);
    const chain = tree('chain-ref', {
      'a/b.created.v1.json': {
        $defs: { one: { $ref: '#/$defs/two' }, two: { $ref: '#/$defs/one' } },
        type: 'object',
        properties: { x: { $ref: '#/$defs/one' } },
      },
    });
    refused(generate(chain), 'a/b.created.v1.json', /SCHEMA_REF_CIRCULAR/);
  });

  test('recursion across Python modules: TypeScript generates, Python is refused by name', async () => {
    const dir = tree('mutual-modules', {
      'x/a.created.v1.json': {
        $id: id('x/a.created.v1.json'),
        type: 'object',
        properties: { b: { $ref: '../y/b.created.v1.json' } },
      },
      'y/b.created.v1.json': {
        $id: id('y/b.created.v1.json'),
        type: 'object',
        properties: { a: { $ref: '../x/a.created.v1.json' } },
      },
    });
    const registry = await loadSchemaTree(dir);
    assert.equal(registry.validateSchema('x.a.created', { b: { a: { b: {} } } }).ok, true);
    assert.equal(registry.validateSchema('x.a.created', { b: { a: { b: 1 } } }).ok, false);
    assert.ok(generateFiles(registry, ['ts']).get('events.ts')?.includes('z.lazy('));
    refused(
      generateArgs(dir, 'python', join(tmp.dir, 'mutual-modules-out')),
      'x → y → x',
      /recursive definitions .*different folders/,
    );
  });

  test('a member named __proto__ is refused: Ajv and Zod would ignore its schema', async () => {
    const dir = tree('proto-member', {
      'a/b.created.v1.json': '{"type":"object","properties":{"ok":{},"__proto__":{"type":"string"}}}',
    });
    await assert.rejects(loadSchemaTree(dir), (err: unknown) => {
      assert.ok(isAppError(err));
      assert.equal(err.code, 'SCHEMA_INVALID');
      assert.equal(err.violations[0]?.pointer, '/properties/__proto__');
      return true;
    });
    refused(['lint', '--schemas', dir], 'a/b.created.v1.json', /member named '__proto__'/);
  });

  test('an event type the envelope forbids, a pattern Python cannot run: refused by name', async () => {
    const upper = tree('upper-type', {
      'a/b.created.v1.json': { 'x-event-type': 'Not.Allowed', type: 'object' },
    });
    refused(
      generate(upper),
      'a/b.created.v1.json',
      /'Not\.Allowed' is not allowed by the envelope's 'event_type'/,
    );
    const unicode = tree('unicode-class', {
      'a/b.created.v1.json': { type: 'object', properties: { x: { type: 'string', pattern: '^\\p{L}+$' } } },
    });
    refused(generate(unicode), 'a/b.created.v1.json', /cannot generate Python: .*unicode property escapes/);
    const ts = runNode(generateArgs(unicode, 'ts', join(tmp.dir, 'unicode-ts')));
    assert.equal(ts.code, 0, ts.stderr);
  });

  test('a file that is not a JSON object is refused by name', async () => {
    const dir = tree('not-object', { 'a/b.created.v1.json': '[{"type": "object"}]' });
    await assert.rejects(loadSchemaTree(dir), (err: unknown) => {
      assert.ok(isAppError(err));
      assert.equal(err.code, 'SCHEMA_INVALID');
      assert.equal(err.extra.file, 'a/b.created.v1.json');
      return true;
    });
    refused(generate(dir), 'a/b.created.v1.json', /must hold a JSON object/);
  });

  test('two files whose generated names collide are refused naming both', () => {
    const dir = tree('name-clash', {
      'a-b/x.created.v1.json': { type: 'object' },
      'a/b/x.created.v1.json': { type: 'object' },
    });
    refused(
      generate(dir),
      'a/b/x.created.v1.json',
      /'ABXCreatedV1Payload' is also used by a-b\/x\.created\.v1\.json/,
    );
  });

  test('events nested deeper than a recursive schema can follow: a violation, not a crash', async () => {
    const dir = tree('deep-events', {
      'r/node.created.v1.json': {
        $ref: '#/$defs/node',
        $defs: { node: { type: 'object', properties: { c: { $ref: '#/$defs/node' } } } },
      },
    });
    const registry = await loadSchemaTree(dir);
    let deep: unknown = {};
    for (let i = 0; i < 100_000; i++) deep = { c: deep };
    const r = registry.validateSchema('r.node.created', deep);
    assert.equal(r.ok, false);
    assert.match(r.violations[0]?.message ?? '', /nested too deeply/);
    assert.equal(registry.validateSchema('r.node.created', { c: { c: {} } }).ok, true);
    let text = '{}';
    for (let i = 0; i < 20_000; i++) text = `{"c":${text}}`;
    const event = join(tmp.dir, 'deep-event.json');
    writeFileSync(event, `{"event_type":"r.node.created","payload":${text}}`);
    const latin1 = join(tmp.dir, 'latin1-event.json');
    writeFileSync(latin1, Buffer.from([0x7b, 0x22, 0xe9, 0x22, 0x3a, 0x31, 0x7d]));
    const v = runNode(['validate', '--schemas', dir, event, latin1]);
    assert.equal(v.code, 1);
    assert.match(v.stdout, /deep-event\.json: nested more than 256 levels deep/);
    assert.match(v.stdout, /latin1-event\.json: not valid UTF-8/);
    assert.doesNotMatch(v.stdout + v.stderr, /Maximum call stack|\n\s+at /);
  });

  test('a symlink loop in the tree and a symlink out of it: no hang, links are not followed', async () => {
    const dir = tree('symlinks', { 'a/b.created.v1.json': { type: 'object' } });
    symlinkSync('..', join(dir, 'a', 'up'));
    symlinkSync(join(dir, 'a'), join(dir, 'a', 'self'));
    symlinkSync('/etc', join(dir, 'etc'));
    const registry = await loadSchemaTree(dir);
    assert.deepEqual(registry.eventTypes, ['a.b.created']);
    const r = runNode(generateArgs(dir, 'all', join(tmp.dir, 'symlinks-out')));
    assert.equal(r.code, 0, r.stderr);
  });

  test('*.json entries that are not files of the tree: a link out of it, a link loop, a FIFO', async () => {
    const dir = tree('special-files', { 'a/b.created.v1.json': { type: 'object' } });
    symlinkSync('/etc/passwd', join(dir, 'a', 'leak.v1.json'));
    symlinkSync('loop.v1.json', join(dir, 'a', 'loop.v1.json'));
    const fifo = spawnSync('mkfifo', [join(dir, 'a', 'pipe.v1.json')]);
    assert.equal(fifo.status, 0, 'mkfifo');
    const findings = await lintTree(dir);
    const problems = findings.filter((f) => f.rule === 'read').map((f) => `${f.file}: ${f.message}`);
    assert.deepEqual(problems, [
      'a/leak.v1.json: symbolic link points outside the schema tree',
      'a/loop.v1.json: symbolic link cannot be followed: symbolic link loop',
      'a/pipe.v1.json: is not a regular file',
    ]);
    const text = refused(generate(dir), 'a/leak.v1.json', /SCHEMA_LOAD_FAILED/);
    assert.doesNotMatch(text, /root:/);
    // A link to a file inside the tree is read like the file.
    const inside = tree('inside-link', { '_common/real.json': { $defs: { s: { type: 'string' } } } });
    mkdirSync(join(inside, 'a'));
    symlinkSync(join(inside, '_common', 'real.json'), join(inside, '_common', 'alias.json'));
    writeFileSync(
      join(inside, 'a', 'b.created.v1.json'),
      JSON.stringify({ type: 'object', properties: { x: { $ref: '../_common/alias.json#/$defs/s' } } }),
    );
    assert.equal((await loadSchemaTree(inside)).validateSchema('a.b.created', { x: 1 }).ok, false);
  });

  test('a large file (5000 members) loads, lints and generates', async () => {
    const properties = Object.fromEntries(
      Array.from({ length: 5000 }, (_, i) => [`p${i}`, { type: 'string', description: 'x'.repeat(100) }]),
    );
    const dir = tree('large', { 'a/b.created.v1.json': { type: 'object', properties } });
    const registry = await loadSchemaTree(dir);
    assert.equal(registry.validateSchema('a.b.created', { p4999: 1 }).ok, false);
    const files = generateFiles(registry, ['ts', 'python']);
    assert.ok((files.get('ts/events.ts') ?? '').includes('p4999: z.string().optional()'));
  });
});

describe('service registries: hostile YAML', { timeout: 60_000 }, () => {
  const file = (name: string, text: string | Buffer): string => {
    const path = join(tmp.dir, `${name}.yaml`);
    writeFileSync(path, text);
    return path;
  };
  const rejects = async (path: string, message: RegExp): Promise<void> => {
    await assert.rejects(loadServiceRegistry(path), (err: unknown) => {
      assert.ok(isAppError(err), `an AppError: ${String(err)}`);
      assert.equal(err.code, 'REGISTRY_INVALID');
      assert.equal(err.extra.file, path);
      assert.match(`${err.message} ${err.violations.map((v) => v.message).join(' ')}`, message);
      return true;
    });
  };

  test('a billion-laughs alias bomb is refused at once, in the library and the CLI', async () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const path = file('bomb', `${levels.join('\n')}\nservices: {}\n`);
    const started = Date.now();
    await rejects(path, /resource exhaustion/);
    assert.ok(Date.now() - started < 5000, 'refused quickly');
    const r = runNode(['catalog', '--registry', path, '--out', join(tmp.dir, 'bomb-catalog')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /REGISTRY_INVALID: .*bomb\.yaml: not valid YAML/);
    assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+:\d+/);
  });

  test('an alias to its own ancestor is refused with the pointer', async () => {
    await assert.rejects(
      async () => parseServiceRegistry('services: &s\n  a: *s\n', 'loop.yaml'),
      (err: unknown) => {
        assert.ok(isAppError(err));
        assert.equal(err.code, 'REGISTRY_INVALID');
        assert.deepEqual(
          err.violations.map((v) => v.pointer),
          ['/services/a'],
        );
        return true;
      },
    );
  });

  test('merge keys (<<) are honoured; duplicate keys and non-UTF-8 bytes are refused', async () => {
    const merged = parseServiceRegistry(
      'defaults: &d\n  queue_name: shared.q\n  routing_keys: ["a.#"]\nservices:\n  one:\n    <<: *d\n    produces: [a.b.created]\n',
    );
    assert.deepEqual(merged.services[0]?.queues, ['shared.q']);
    assert.deepEqual(merged.services[0]?.routingKeys, ['a.#']);
    await rejects(file('dupkey', 'services:\n  a: {}\n  a: {}\n'), /unique at line 3/);
    await rejects(
      file(
        'latin1',
        Buffer.concat([
          Buffer.from('services:\n  a:\n    name: "caf'),
          Buffer.from([0xe9]),
          Buffer.from('"\n'),
        ]),
      ),
      /not valid UTF-8 \(line 3\)/,
    );
  });
});
