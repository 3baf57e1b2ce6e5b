#!/usr/bin/env node
// The README's test command (`npm test`): type check, lint, then every *.test.ts file
// under packages/*/test and test/ (the cross-part fault suite) with Node's test runner,
// one file at a time (the integration tests share one RabbitMQ and one PostgreSQL).
// Arguments narrow the run to the test files under the given paths (or whose path starts
// with one, as in `packages/candystore/test/replay`); `--no-check` skips
// the type check and lint.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const skipChecks = args.includes('--no-check');
const only = args.filter((a) => !a.startsWith('--')).map((a) => resolve(a));

function run(cmd, cmdArgs, env = process.env) {
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit', env });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function findTests(dir, out = []) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) findTests(p, out);
    else if (name.endsWith('.test.ts') || name.endsWith('.test.tsx')) out.push(p);
  }
  return out;
}

if (!skipChecks) {
  console.log('› type check (tsc --build)');
  run('npx', ['tsc', '--build']);
  console.log('› lint (biome)');
  run('npx', ['biome', 'check', '.']);
}

// A path that does not exist narrows to the test files whose path starts with it
// (`packages/candystore/test/replay` runs every replay*.test.ts there).
function testsUnder(path) {
  if (existsSync(path)) return statSync(path).isDirectory() ? findTests(path) : [path];
  const parent = dirname(path);
  if (!existsSync(parent)) {
    console.error(`npm test: no such file or directory: ${relative(root, path)}`);
    process.exit(1);
  }
  return findTests(parent).filter((f) => f.startsWith(path));
}

const roots = only.length > 0 ? only : [join(root, 'packages'), join(root, 'test')];
const files = roots
  .flatMap(testsUnder)
  .filter((f) => f.includes(`${join('test', '')}`) || f.endsWith('.test.ts'))
  .sort();
if (files.length === 0) {
  console.error(`no test files found under ${roots.map((r) => relative(root, r) || '.').join(', ')}`);
  process.exit(1);
}
console.log(`› ${files.length} test files`);
const env = {
  ...process.env,
  TEST_AMQP_URL: process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
  TEST_DATABASE_URL: process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
};
run(
  process.execPath,
  [
    '--conditions=source',
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=1',
    // A test that timed out may leave handles open; its file must still end so the run goes on.
    '--test-force-exit',
    '--test-reporter=spec',
    ...files.map((f) => relative(root, f)),
  ],
  env,
);
