import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '@33god/core';
import type { SchemaRegistry } from '../schema/registry.js';
import { buildModel } from './ir.js';
import { generatePython } from './python.js';
import { generateTypeScript } from './typescript.js';

export type GenerateLanguage = 'ts' | 'python';

export interface GenerateOptions {
  /** How the source tree is named in the generated headers (keep it relative so output does not depend on the machine). */
  readonly source?: string;
  /** Python package folder under the output directory (default `events`). */
  readonly pythonPackage?: string;
}

/** The generated files for each language, keyed by path relative to the output directory. */
export function generateFiles(
  registry: SchemaRegistry,
  langs: readonly GenerateLanguage[],
  options: GenerateOptions = {},
): Map<string, string> {
  const model = buildModel(registry);
  const source = options.source ?? 'schemas';
  const out = new Map<string, string>();
  const both = langs.length > 1;
  if (langs.includes('ts')) {
    for (const [f, c] of generateTypeScript(model, source)) out.set(both ? `ts/${f}` : f, c);
  }
  if (langs.includes('python')) {
    const pkg = options.pythonPackage ?? 'events';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(pkg)) {
      throw new AppError('INVALID_REQUEST', `python package name '${pkg}' is not a Python identifier`);
    }
    for (const [f, c] of generatePython(model, source))
      out.set(both ? `python/${pkg}/${f}` : `${pkg}/${f}`, c);
  }
  return out;
}

/**
 * Writes the generated files under `outDir`, removing generated files of an earlier run that
 * are no longer produced (so a removed schema does not leave a stale module behind).
 */
export async function writeGenerated(outDir: string, files: Map<string, string>): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const written: string[] = [];
  const dirs = new Set<string>();
  for (const [rel, content] of [...files.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const abs = join(outDir, rel);
    const dir = abs.slice(0, abs.lastIndexOf('/'));
    dirs.add(dir);
    await mkdir(dir, { recursive: true });
    await writeFile(abs, content);
    written.push(rel);
  }
  const keep = new Set([...files.keys()].map((r) => join(outDir, r)));
  for (const dir of dirs) {
    for (const name of await readdir(dir)) {
      const abs = join(dir, name);
      if ((name.endsWith('.ts') || name.endsWith('.py')) && !keep.has(abs)) await rm(abs);
    }
  }
  return written;
}
