import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { startStack } from '@33god/all-in-one';
import { ENV_VARS, projectRoot } from '@33god/core';

// The README is the one table of configuration. Importing the all-in-one package loads
// every part's config module, so ENV_VARS holds every variable any part reads.
describe('README', () => {
  const readme = readFileSync(`${projectRoot()}/README.md`, 'utf8');

  it('documents every environment variable in its table', () => {
    assert.equal(typeof startStack, 'function');
    const names = [...ENV_VARS.keys()];
    assert.ok(names.length >= 40, `expected every part's variables, got ${names.length}`);
    const rows = new Set([...readme.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]));
    const missing = names.filter((n) => !rows.has(n)).sort();
    assert.deepEqual(missing, [], `missing from the README's environment table: ${missing.join(', ')}`);
  });

  it('gives the two commands, and they are what package.json runs', () => {
    const pkg = JSON.parse(readFileSync(`${projectRoot()}/package.json`, 'utf8')) as {
      scripts: Record<string, string>;
    };
    const block = readme.match(/## Two commands\s+```bash\n([\s\S]*?)```/);
    assert.ok(block, 'a "Two commands" section with a bash block');
    const commands = block[1]!
      .split('\n')
      .map((l) => l.replace(/#.*$/, '').trim())
      .filter(Boolean);
    assert.deepEqual(commands, ['npm start -- --demo', 'npm test']);
    assert.equal(pkg.scripts.start, 'node scripts/start.mjs');
    assert.equal(pkg.scripts.test, 'node scripts/test.mjs');
    const ci = readFileSync(`${projectRoot()}/.ci/run`, 'utf8');
    assert.match(ci, /^npm test$/m, '.ci/run runs the README test command');
  });
});
