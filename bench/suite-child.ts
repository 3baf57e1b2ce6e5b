// Runs one bench suite in this process and prints its results as the last line, so each
// suite's memory and CPU state is its own.
import { benchContext } from './run.js';
import type { BenchSuite } from './types.js';

const name = process.argv[2];
const mod = (await import(`./${name}.ts`)) as { suite?: BenchSuite };
if (typeof mod.suite !== 'function') {
  console.error(`bench/${name}.ts does not export a suite`);
  process.exit(1);
}
const results = await mod.suite(benchContext());
console.log(`@@RESULT ${JSON.stringify(results)}`);
process.exit(0);
