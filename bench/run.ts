// `npm run bench`: runs every suite in bench/*.ts (each exports `suite: BenchSuite`) in its own
// child process, prints one table, and writes bench/results.json. Every figure sits beside a
// reference measured in the same run. `npm run bench -- gateway sdk` runs only those suites;
// BENCH_QUICK=1 scales the workloads down for a smoke run.
import { spawn } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchContext, BenchResult } from './types.js';

const here = dirname(fileURLToPath(import.meta.url));
const NOT_SUITES = new Set(['run.ts', 'types.ts', 'suite-child.ts', 'cpu.ts']);

async function main(): Promise<number> {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const suites = readdirSync(here)
    .filter((f) => f.endsWith('.ts') && !NOT_SUITES.has(f) && !f.startsWith('_'))
    .map((f) => basename(f, '.ts'))
    .filter((name) => wanted.length === 0 || wanted.includes(name))
    .sort();
  if (suites.length === 0) {
    console.error(`no bench suites match ${wanted.join(', ')}`);
    return 1;
  }
  const all: (BenchResult & { suite: string })[] = [];
  const failures: string[] = [];
  for (const suite of suites) {
    console.log(`\n▶ ${suite}`);
    try {
      const results = await runSuite(suite);
      for (const r of results) all.push({ suite, ...r });
    } catch (err) {
      failures.push(`${suite}: ${(err as Error).message}`);
      console.error(`✖ ${suite}: ${(err as Error).message}`);
    }
  }
  printTable(all);
  writeFileSync(
    join(here, 'results.json'),
    `${JSON.stringify(
      all.map(({ suite: _s, ...r }) => r),
      null,
      2,
    )}\n`,
  );
  console.log(`\nwrote bench/results.json (${all.length} figures)`);
  if (failures.length > 0) {
    console.error(`\n${failures.length} suite(s) failed:\n  ${failures.join('\n  ')}`);
    return 1;
  }
  return 0;
}

function runSuite(suite: string): Promise<BenchResult[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', join(here, 'suite-child.ts'), suite],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent' },
      },
    );
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      // Progress lines pass through; the last line is the JSON result.
      const lines = out.split('\n');
      out = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('@@RESULT ')) resultLine = line.slice(9);
        else console.log(`  ${line}`);
      }
    });
    let resultLine = '';
    child.on('error', reject);
    child.on('close', (code) => {
      if (out.startsWith('@@RESULT ')) resultLine = out.slice(9);
      if (code !== 0 || !resultLine) return reject(new Error(`exited with code ${code}`));
      resolve(JSON.parse(resultLine) as BenchResult[]);
    });
  });
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(3);
}

function printTable(rows: (BenchResult & { suite: string })[]): void {
  const head = ['suite', 'figure', 'value', 'unit', 'reference', 'ref value', 'ratio'];
  const body = rows.map((r) => [
    r.suite,
    r.name,
    fmt(r.value),
    r.unit,
    r.reference_name,
    fmt(r.reference_value),
    r.ratio.toFixed(3),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  console.log(`\n${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const b of body) console.log(line(b));
}

export function benchContext(): BenchContext {
  return {
    amqpUrl: process.env.BENCH_AMQP_URL ?? process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
    databaseUrl:
      process.env.BENCH_DATABASE_URL ??
      process.env.TEST_DATABASE_URL ??
      'postgres://postgres@127.0.0.1:5432/test',
    scale: process.env.BENCH_QUICK === '1' ? 0.1 : 1,
    log: (line: string) => console.log(line),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
