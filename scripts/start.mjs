#!/usr/bin/env node
// `npm start`: the README's first command. On a fresh clone it installs the dependencies
// from the lock file and builds; afterwards it only rebuilds what changed. Then it runs
// every part in one process (`33god up`), passing its arguments on (`npm start -- --demo`,
// `npm start -- --host 0.0.0.0`, which needs AUTH_TOKENS). Needs nothing but Node.js 20.19+ and npm.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const root = resolve(import.meta.dirname, '..');
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  console.error(`error: Node.js 20.19 or newer is needed, this is ${process.versions.node}`);
  process.exit(1);
}

function step(title, cmd, args) {
  console.log(`› ${title}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`error: '${cmd} ${args.join(' ')}' failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
}

function newestMtime(dir) {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    newest = Math.max(newest, s.isDirectory() ? newestMtime(p) : s.mtimeMs);
  }
  return newest;
}

const lock = join(root, 'package-lock.json');
const installed = join(root, 'node_modules', '.package-lock.json');
if (!existsSync(installed) || statSync(lock).mtimeMs > statSync(installed).mtimeMs) {
  // npm ci also builds everything (the root `prepare` script).
  step('installing dependencies from package-lock.json (first run only)', 'npm', [
    'ci',
    '--no-audit',
    '--no-fund',
  ]);
} else {
  // Only what runs: the all-in-one package and the packages it references. The tests and the
  // benchmarks are type-checked by `npm test`; a mistake there must not stop the system.
  step('type-checking and compiling (incremental)', 'npx', ['tsc', '--build', 'packages/all-in-one']);
  const web = join(root, 'packages', 'candybar', 'web');
  const built = join(web, 'dist', 'index.html');
  if (!existsSync(built) || newestMtime(join(web, 'src')) > statSync(built).mtimeMs) {
    step('building the dashboard', 'npm', ['run', 'build', '--workspace', '@33god/candybar']);
  }
}

// The parts log pino's JSON lines; they are shown as one readable line each (time, level,
// part, message, fields) unless LOG_FORMAT=json asks for them as they are.
const pretty = (process.env.LOG_FORMAT ?? '').trim().toLowerCase() !== 'json';

// A 4 MB semi-space (V8's default is 16 MB) collected on the main thread: on two
// cores shared with the broker and the database, less CPU per request and a smaller footprint
// than V8's defaults; every service process runs with them (docs/benchmarks.md).
const child = spawn(
  process.execPath,
  [
    '--max-semi-space-size=4',
    '--single-threaded-gc',
    join(root, 'packages', 'all-in-one', 'bin', '33god.mjs'),
    'up',
    ...process.argv.slice(2),
  ],
  {
    cwd: root,
    stdio: ['inherit', pretty ? 'pipe' : 'inherit', 'inherit'],
  },
);
if (pretty) {
  const { prettyFactory } = createRequire(join(root, 'packages', 'all-in-one', 'package.json'))(
    'pino-pretty',
  );
  const format = prettyFactory({
    colorize: process.stdout.isTTY === true,
    translateTime: 'SYS:HH:MM:ss',
    ignore: 'pid,hostname',
    singleLine: true,
  });
  process.stdout.on('error', () => {}); // a reader that went away (| head) must not stop the parts
  createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
    process.stdout.write(line.startsWith('{"level":') ? format(line) : `${line}\n`);
  });
}
// The terminal sends Ctrl-C to the child as well (same process group), so this process
// ignores SIGINT and waits; SIGTERM (e.g. from a process manager) is passed on.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => child.kill('SIGTERM'));
// 'close', not 'exit': the last lines piped through ("stopped.") are written first
child.on('close', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
