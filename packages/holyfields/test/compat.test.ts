import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { type CompatMode, checkCompatibility } from '../src/check/compat.js';
import { loadSchemaTree } from '../src/index.js';
import { runNode, tempDir } from './support/generated.js';

const tmp = tempDir('compat');
after(() => tmp.cleanup());
let n = 0;

type Props = Record<string, unknown>;
interface Shape {
  props: Props;
  required: string[];
}

async function treeOf(shape: Shape | null, closed: boolean): Promise<string> {
  const dir = join(tmp.dir, `t${n++}`);
  mkdirSync(join(dir, 'shop'), { recursive: true });
  mkdirSync(join(dir, 'other'), { recursive: true });
  writeFileSync(
    join(dir, 'other/thing.happened.v1.json'),
    JSON.stringify({ $id: 'https://e.com/other/thing.happened.v1.json', type: 'object' }),
  );
  if (shape) {
    const schema: Record<string, unknown> = {
      $id: 'https://e.com/shop/order.placed.v1.json',
      type: 'object',
      properties: shape.props,
      required: shape.required,
    };
    if (closed) schema.additionalProperties = false;
    writeFileSync(join(dir, 'shop/order.placed.v1.json'), JSON.stringify(schema));
  }
  return dir;
}

const base: Props = { id: { type: 'string' }, qty: { type: 'integer' }, kind: { enum: ['a', 'b'] } };

/** Each change as (old, new) payload shapes. */
const CHANGES: Record<string, { old: Shape | null; new: Shape | null }> = {
  'required field added': {
    old: { props: base, required: ['id'] },
    new: { props: { ...base, note: { type: 'string' } }, required: ['id', 'note'] },
  },
  'required field removed': {
    old: { props: { ...base, note: { type: 'string' } }, required: ['id', 'note'] },
    new: { props: base, required: ['id'] },
  },
  'optional field added': {
    old: { props: base, required: ['id'] },
    new: { props: { ...base, note: { type: 'string' } }, required: ['id'] },
  },
  'optional field removed': {
    old: { props: { ...base, note: { type: 'string' } }, required: ['id'] },
    new: { props: base, required: ['id'] },
  },
  'type narrowed (number → integer)': {
    old: { props: { ...base, price: { type: 'number' } }, required: ['id', 'price'] },
    new: { props: { ...base, price: { type: 'integer' } }, required: ['id', 'price'] },
  },
  'type widened (integer → number)': {
    old: { props: base, required: ['id', 'qty'] },
    new: { props: { ...base, qty: { type: 'number' } }, required: ['id', 'qty'] },
  },
  'enum value added': {
    old: { props: base, required: ['id', 'kind'] },
    new: { props: { ...base, kind: { enum: ['a', 'b', 'c'] } }, required: ['id', 'kind'] },
  },
  'enum value removed': {
    old: { props: base, required: ['id', 'kind'] },
    new: { props: { ...base, kind: { enum: ['a'] } }, required: ['id', 'kind'] },
  },
  'const changed': {
    old: { props: { ...base, v: { const: 1 } }, required: ['id', 'v'] },
    new: { props: { ...base, v: { const: 2 } }, required: ['id', 'v'] },
  },
  'schema removed': { old: { props: base, required: ['id'] }, new: null },
};

/**
 * The documented matrix (docs/holyfields.md): whether each change breaks backward (old ⊆ new) and
 * forward (new ⊆ old) compatibility, for open and closed content models. Full = both.
 */
const MATRIX: Record<string, { open: [boolean, boolean]; closed: [boolean, boolean] }> = {
  'required field added': { open: [true, false], closed: [true, true] },
  'required field removed': { open: [false, true], closed: [true, true] },
  'optional field added': { open: [true, false], closed: [false, true] },
  'optional field removed': { open: [false, true], closed: [true, false] },
  'type narrowed (number → integer)': { open: [true, false], closed: [true, false] },
  'type widened (integer → number)': { open: [false, true], closed: [false, true] },
  'enum value added': { open: [false, true], closed: [false, true] },
  'enum value removed': { open: [true, false], closed: [true, false] },
  'const changed': { open: [true, true], closed: [true, true] },
  'schema removed': { open: [true, true], closed: [true, true] },
};

describe('compatibility matrix: one test per cell', { timeout: 120_000 }, () => {
  for (const [change, { old, new: next }] of Object.entries(CHANGES)) {
    for (const model of ['open', 'closed'] as const) {
      const [breaksBackward, breaksForward] = MATRIX[change]![model];
      const expected: Record<CompatMode, boolean> = {
        backward: breaksBackward,
        forward: breaksForward,
        full: breaksBackward || breaksForward,
      };
      for (const mode of ['backward', 'forward', 'full'] as const) {
        test(`${change}, ${model} content model, ${mode}: ${expected[mode] ? 'breaking' : 'compatible'}`, async () => {
          const previous = await loadSchemaTree(await treeOf(old, model === 'closed'));
          const current = await loadSchemaTree(await treeOf(next, model === 'closed'));
          const breaking = checkCompatibility(current, previous, mode).filter(
            (b) => b.eventType === 'shop.order.placed',
          );
          assert.equal(breaking.length > 0, expected[mode], JSON.stringify(breaking));
          if (mode === 'full' && expected.full) {
            const dirs = new Set(breaking.map((b) => b.direction));
            assert.equal(dirs.has('backward'), breaksBackward);
            assert.equal(dirs.has('forward'), breaksForward);
          }
        });
      }
    }
  }

  test('CLI: exit 1 with the list of breaking changes, 0 when compatible', async () => {
    const previous = await treeOf(CHANGES['required field added']!.old, false);
    const current = await treeOf(CHANGES['required field added']!.new, false);
    const r = runNode(['check', '--schemas', current, '--against', previous, '--mode', 'backward']);
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /shop\.order\.placed v1: \/payload\/note: required member added \(breaks backward compatibility\)/,
    );
    const ok = runNode(['check', '--schemas', current, '--against', current, '--mode', 'full']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  });
});

describe('compatibility of recursive schemas: terminates, finds changes inside the recursion', {
  timeout: 120_000,
}, () => {
  /** A tree of nodes (`$defs.node` refers to itself), closed, with the given extra node members. */
  async function recursiveTree(extra: Props, required: string[] = ['name']): Promise<string> {
    const dir = join(tmp.dir, `r${n++}`);
    mkdirSync(join(dir, 'tree'), { recursive: true });
    writeFileSync(
      join(dir, 'tree/node.created.v1.json'),
      JSON.stringify({
        $id: 'https://e.com/tree/node.created.v1.json',
        $ref: '#/$defs/node',
        $defs: {
          node: {
            type: 'object',
            additionalProperties: false,
            required,
            properties: {
              name: { type: 'string' },
              children: { type: 'array', items: { $ref: '#/$defs/node' } },
              parent: { $ref: '#' },
              ...extra,
            },
          },
        },
      }),
    );
    return dir;
  }

  test('unchanged and a compatible change (optional member added to the node) in every mode', async () => {
    const previous = await loadSchemaTree(await recursiveTree({}));
    const same = await loadSchemaTree(await recursiveTree({}));
    assert.deepEqual(checkCompatibility(same, previous, 'full'), []);
    // Closed model: a new optional member keeps every old node valid (backward), not forward.
    const next = await loadSchemaTree(await recursiveTree({ note: { type: 'string' } }));
    assert.deepEqual(checkCompatibility(next, previous, 'backward'), []);
    const forward = checkCompatibility(next, previous, 'forward');
    assert.ok(forward.length > 0);
    assert.ok(forward.every((b) => b.direction === 'forward'));
  });

  test('a breaking change inside the recursive part is reported at its first place', async () => {
    const previous = await loadSchemaTree(await recursiveTree({ size: { type: 'number' } }));
    const next = await loadSchemaTree(await recursiveTree({ size: { type: 'integer' } }));
    const breaking = checkCompatibility(next, previous, 'backward');
    assert.deepEqual(
      breaking.map((b) => [b.eventType, b.pointer, b.message]),
      [['tree.node.created', '/payload/size', 'type narrowed from number to integer']],
    );
    assert.deepEqual(checkCompatibility(next, previous, 'forward'), []);
    // A new required member breaks backward compatibility of every node, the nested ones included.
    const required = await loadSchemaTree(
      await recursiveTree({ size: { type: 'number' } }, ['name', 'size']),
    );
    assert.deepEqual(
      checkCompatibility(required, previous, 'backward').map((b) => [b.pointer, b.message]),
      [['/payload/size', 'optional member became required']],
    );
    const r = runNode([
      'check',
      '--schemas',
      join(tmp.dir, `r${n - 1}`),
      '--against',
      join(tmp.dir, `r${n - 3}`),
    ]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /tree\.node\.created v1: \/payload\/size: optional member became required/);
  });
});
