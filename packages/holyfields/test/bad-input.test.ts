import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isAppError } from '@33god/core';
import { loadSchemaTree } from '../src/index.js';
import {
  generateArgs,
  schemaId as id,
  RECURSIVE_NODE_TREE,
  runNode,
  tempDir,
  treeWriter,
} from './support/generated.js';

const tmp = tempDir('bad');
after(() => tmp.cleanup());

const tree = treeWriter(tmp.dir);

/** Every bad tree fails in the library with an AppError and in each CLI command with a clear message. */
function expectFailure(dir: string, code: string, file: string, problem: RegExp): void {
  for (const command of [['lint'], ['generate', '--lang', 'ts', '--out', join(tmp.dir, 'out')], ['bundle']]) {
    const r = runNode([...command, '--schemas', dir]);
    const text = r.stdout + r.stderr;
    assert.notEqual(r.code, 0, `${command[0]} exits non-zero`);
    assert.ok(text.includes(file), `${command[0]} names the file ${file}: ${text}`);
    assert.match(text, problem, `${command[0]} names the problem`);
    assert.doesNotMatch(text, /\n\s+at .+:\d+:\d+/, 'no stack trace');
  }
  return void code;
}

async function expectLoadError(dir: string, code: string, file: string): Promise<void> {
  await assert.rejects(loadSchemaTree(dir), (err: unknown) => {
    assert.ok(isAppError(err), 'an AppError');
    assert.equal(err.code, code);
    assert.ok(String(err.extra.file).includes(file), `extra.file names ${file}`);
    return true;
  });
}

describe('bad input: message naming the file and the problem, non-zero exit, no stack trace', {
  timeout: 120_000,
}, () => {
  test('malformed JSON', async () => {
    const dir = tree('malformed', { 'a/b.created.v1.json': '{ "type": "object", ' });
    await expectLoadError(dir, 'SCHEMA_PARSE_ERROR', 'a/b.created.v1.json');
    expectFailure(dir, 'SCHEMA_PARSE_ERROR', 'a/b.created.v1.json', /malformed JSON/);
  });

  test('a $ref that does not resolve', async () => {
    const dir = tree('unresolved', {
      'a/b.created.v1.json': {
        $id: id('a/b.created.v1.json'),
        type: 'object',
        properties: { x: { $ref: '../_common/types.v1.json#/$defs/missing' } },
      },
      '_common/types.v1.json': { $id: id('_common/types.v1.json'), $defs: { here: { type: 'string' } } },
    });
    await expectLoadError(dir, 'SCHEMA_REF_UNRESOLVED', 'a/b.created.v1.json');
    expectFailure(dir, 'SCHEMA_REF_UNRESOLVED', 'a/b.created.v1.json', /does not resolve/);
    const missingFile = tree('unresolved-file', {
      'a/b.created.v1.json': { $id: id('a/b.created.v1.json'), allOf: [{ $ref: '../nowhere.json' }] },
    });
    await expectLoadError(missingFile, 'SCHEMA_REF_UNRESOLVED', 'a/b.created.v1.json');
  });

  test('a circular $ref (across files) that never reaches a schema', async () => {
    const dir = tree('circular', {
      'a/b.created.v1.json': { $id: id('a/b.created.v1.json'), $ref: '../_common/loop.v1.json#/$defs/one' },
      '_common/loop.v1.json': {
        $id: id('_common/loop.v1.json'),
        $defs: { one: { $ref: '#/$defs/two' }, two: { allOf: [{ $ref: '#/$defs/one' }] } },
      },
    });
    await expectLoadError(dir, 'SCHEMA_REF_CIRCULAR', '_common/loop.v1.json');
    expectFailure(dir, 'SCHEMA_REF_CIRCULAR', '_common/loop.v1.json', /circular \$ref/);
  });

  test('a recursive schema (a $ref back through properties) is valid, not circular', async () => {
    const dir = tree('recursive', RECURSIVE_NODE_TREE);
    const r = await loadSchemaTree(dir);
    assert.equal(
      r.validateSchema('tree.node.created', { name: 'a', children: [{ name: 'b', children: [] }] }).ok,
      true,
    );
    assert.deepEqual(
      r
        .validateSchema('tree.node.created', { name: 'a', children: [{ children: [] }] })
        .violations.map((v) => v.pointer),
      ['/children/0/name'],
    );
    // The generators support recursion (z.lazy, Pydantic forward references): no refusal, no loop.
    const g = runNode(generateArgs(dir, 'all', join(tmp.dir, 'rec-out')));
    assert.equal(g.code, 0, g.stdout + g.stderr);
    const ts = readFileSync(join(tmp.dir, 'rec-out', 'ts', 'events.ts'), 'utf8');
    assert.match(ts, /export const Node: z\.ZodType<Node> = z\.lazy\(/);
    const py = readFileSync(join(tmp.dir, 'rec-out', 'python', 'events', 'tree.py'), 'utf8');
    assert.match(py, /children: "list\[Node\]" = Field\(default=None\)/);
    assert.match(py, /Node\.model_rebuild\(\)/);
    // Lint, catalog and bundle terminate on it too.
    const lint = runNode(['lint', '--schemas', dir]);
    assert.equal(lint.code, 0, lint.stdout + lint.stderr);
    assert.equal(runNode(['catalog', '--schemas', dir, '--out', join(tmp.dir, 'rec-catalog')]).code, 0);
    assert.equal(runNode(['bundle', '--schemas', dir, '--out', join(tmp.dir, 'rec.bundle.json')]).code, 0);
  });

  test('two schemas claiming one event type and version', async () => {
    const dir = tree('duplicate', {
      'a/b.created.v1.json': { $id: id('a/b.created.v1.json'), type: 'object' },
      'a/legacy.v1.json': { $id: id('a/legacy.v1.json'), 'x-event-type': ['a.b.created'], type: 'object' },
    });
    await expectLoadError(dir, 'SCHEMA_DUPLICATE_TYPE', 'a/legacy.v1.json');
    expectFailure(
      dir,
      'SCHEMA_DUPLICATE_TYPE',
      'a/legacy.v1.json',
      /'a\.b\.created' version 1 is also claimed by a\/b\.created\.v1\.json/,
    );
  });

  test('an unreadable directory: missing, or a file instead of a directory', async () => {
    const missing = join(tmp.dir, 'does-not-exist');
    await expectLoadError(missing, 'SCHEMA_LOAD_FAILED', missing);
    expectFailure(missing, 'SCHEMA_LOAD_FAILED', missing, /no such file or directory/);
    const file = join(tmp.dir, 'plain-file');
    writeFileSync(file, 'x');
    await expectLoadError(file, 'SCHEMA_LOAD_FAILED', file);
    expectFailure(file, 'SCHEMA_LOAD_FAILED', file, /not a directory/);
  });

  test('a schema Ajv rejects, an unsupported keyword for the generators, a usage error', async () => {
    const dir = tree('invalid', {
      'a/b.created.v1.json': { $id: id('a/b.created.v1.json'), type: 'strange' },
    });
    await expectLoadError(dir, 'SCHEMA_INVALID', 'a/b.created.v1.json');
    const unsupported = tree('unsupported', {
      'a/b.created.v1.json': {
        $id: id('a/b.created.v1.json'),
        type: 'object',
        patternProperties: { '^x': {} },
      },
    });
    const g = runNode(generateArgs(unsupported, 'python', join(tmp.dir, 'u-out')));
    assert.equal(g.code, 1);
    assert.match(
      g.stderr,
      /a\/b\.created\.v1\.json: cannot generate code: keyword 'patternProperties' is not supported/,
    );
    const usage = runNode(['generate', '--lang', 'cobol', '--out', join(tmp.dir, 'x')]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--lang must be ts, python or all/);
  });
});
