import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';
import * as events from '@33god/events';
import { bundleEntry, generateFiles, loadSchemaTree } from '@33god/holyfields';
import { readSchemaTree } from '@33god/holyfields/internal';

const ROOT = resolve(import.meta.dirname, '../../..');
const GENERATED = resolve(ROOT, 'packages/events/src/generated');

describe('generated code cannot drift from schemas/ (regenerate: npm run generate)', {
  timeout: 60_000,
}, () => {
  test('regenerating the TypeScript gives the committed files byte for byte', async () => {
    const registry = await loadSchemaTree(resolve(ROOT, 'schemas'));
    const files = generateFiles(registry, ['ts'], { source: 'schemas' });
    assert.deepEqual([...files.keys()], ['events.ts']);
    for (const [name, content] of files) {
      assert.equal(
        readFileSync(resolve(GENERATED, name), 'utf8'),
        content,
        `${name} differs: run npm run generate`,
      );
    }
  });

  test("Holyfields' built-in envelope is the bundle of schemas/_common/envelope.v1.json", async () => {
    const tree = await readSchemaTree(resolve(ROOT, 'schemas'));
    const expected = bundleEntry(
      tree,
      '_common/envelope.v1.json',
      'https://33god.dev/schemas/_builtin/envelope.bundle.json',
    );
    const actual = readFileSync(
      resolve(ROOT, 'packages/holyfields/src/schema/generated/envelope.bundle.json'),
      'utf8',
    );
    assert.equal(actual, `${JSON.stringify(expected, null, 2)}\n`);
  });

  test('the package entry exports every generated name', () => {
    const generated = readFileSync(resolve(GENERATED, 'events.ts'), 'utf8');
    const values = [...generated.matchAll(/^export const ([A-Za-z0-9_]+)/gm)].map((m) => m[1]!);
    const exported = Object.keys(events);
    assert.deepEqual(
      values.filter((v) => !exported.includes(v)),
      [],
    );
    const entry = readFileSync(resolve(ROOT, 'packages/events/src/index.ts'), 'utf8');
    const types = [...generated.matchAll(/^export (?:type|interface) ([A-Za-z0-9_]+)/gm)].map((m) => m[1]!);
    assert.deepEqual(
      types.filter((t) => !new RegExp(`\\b${t}\\b`).test(entry)),
      [],
    );
  });

  test('the generated schemas validate the examples of schemas/', async () => {
    const registry = await loadSchemaTree(resolve(ROOT, 'schemas'));
    for (const t of events.eventTypes) {
      const info = registry.get(t)!;
      for (const ex of info.examples) assert.equal(events.payloadSchemas[t].safeParse(ex).success, true, t);
      assert.equal(events.payloadSchemas[t].safeParse('not an object').success, false);
    }
    const typed: events.EventMap['test.event.created'] = { message: 'hello' };
    assert.equal(events.TestEventCreatedV1Payload.parse(typed).message, 'hello');
  });
});
