import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isPastTense, lintTree } from '../src/lint/lint.js';
import { FIXTURE_TREE, OWN_TREE, runNode, tempDir } from './support/generated.js';

const tmp = tempDir('lint');
after(() => tmp.cleanup());

describe('holyfields lint', { timeout: 60_000 }, () => {
  test("the project's own tree lints clean (CLI exit 0)", async () => {
    assert.deepEqual(await lintTree(OWN_TREE), []);
    const r = runNode(['lint', '--schemas', OWN_TREE]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  test('the fixture tree has the expected past-tense findings and nothing else', async () => {
    const findings = await lintTree(FIXTURE_TREE);
    assert.ok(
      findings.every((f) => f.rule === 'past-tense'),
      JSON.stringify(findings),
    );
    const types = findings.map((f) => /'([^']+)'/.exec(f.message)?.[1]).sort();
    assert.deepEqual(types, [
      'agent.error',
      'agent.feedback.response',
      'agent.heartbeat',
      'agent.thread.error',
      'agent.thread.prompt',
      'agent.thread.response',
    ]);
    const r = runNode(['lint', '--schemas', FIXTURE_TREE]);
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /^agent\/thread\/prompt\.v1\.json: event type 'agent\.thread\.prompt': action 'prompt' is not past tense/m,
    );
  });

  test('past tense: -ed, irregular participles, the allowlist', () => {
    for (const a of ['created', 'comment_extracted', 'sent', 'built', 'status', 'dlq'])
      assert.ok(isPastTense(a), a);
    for (const a of ['create', 'prompt', 'heartbeat', 'error', 'response'])
      assert.equal(isPastTense(a), false, a);
  });

  test('naming, file name, $id and examples rules', async () => {
    const dir = join(tmp.dir, 'rules');
    const put = (rel: string, doc: unknown) => {
      mkdirSync(join(dir, rel, '..'), { recursive: true });
      writeFileSync(join(dir, rel), JSON.stringify(doc));
    };
    put('shop/order.placed.v1.json', {
      $id: 'https://e.com/shop/order.placed.v1.json',
      type: 'object',
      properties: { n: { type: 'integer' } },
      examples: [{ n: 1 }, { n: 'two' }],
    });
    put('shop/Order.Shipped.v1.json', { $id: 'https://e.com/shop/Order.Shipped.v1.json', type: 'object' });
    put('shop/order.create.v1.json', { $id: 'https://e.com/elsewhere/order.create.v1.json', type: 'object' });
    put('shop/renamed.v1.json', {
      $id: 'https://e.com/shop/renamed.v1.json',
      properties: { event_type: { const: 'shop.order.cancelled' } },
    });
    put('shop/noid.v1.json', { type: 'object' });
    const findings = await lintTree(dir);
    const by = (rule: string) =>
      findings.filter((f) => f.rule === rule).map((f) => `${f.file}: ${f.message}`);
    assert.ok(by('examples').some((m) => m.startsWith('shop/order.placed.v1.json: #/examples/1 is invalid')));
    assert.equal(by('examples').length, 1, 'the valid example is fine');
    assert.ok(by('type-name').some((m) => m.includes("'shop.Order.Shipped' must be lowercase")));
    assert.ok(by('past-tense').some((m) => m.includes("'shop.order.create'")));
    assert.ok(by('id').some((m) => m.startsWith('shop/order.create.v1.json: $id')));
    assert.ok(by('id').some((m) => m === 'shop/noid.v1.json: has no $id'));
    assert.ok(
      by('file-name').some((m) =>
        m.includes("file name says 'shop.renamed' but the schema's event type is 'shop.order.cancelled'"),
      ),
    );
    const r = runNode(['lint', '--schemas', dir]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout.trim().split('\n').length, findings.length);
  });

  test('a duplicate $id is a finding', async () => {
    const dir = join(tmp.dir, 'dupid');
    mkdirSync(join(dir, 'a'), { recursive: true });
    writeFileSync(
      join(dir, 'a/x.created.v1.json'),
      JSON.stringify({ $id: 'https://e.com/a/x.created.v1.json' }),
    );
    writeFileSync(
      join(dir, 'a/y.created.v1.json'),
      JSON.stringify({ $id: 'https://e.com/a/x.created.v1.json' }),
    );
    const findings = await lintTree(dir);
    assert.ok(findings.some((f) => f.rule === 'id-unique' && f.file === 'a/y.created.v1.json'));
  });
});
