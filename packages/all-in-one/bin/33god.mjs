#!/usr/bin/env node
// Runs the compiled CLI (built by `npm install` through the root `prepare` script, or `npm run build`).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(entry)) {
  console.error(`error: ${entry.pathname} is missing; run \`npm run build\` at the repository root first.`);
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
