import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateFiles, writeGenerated } from '../../src/generate/index.js';
import type { SchemaRegistry } from '../../src/schema/registry.js';

export const ROOT = resolve(import.meta.dirname, '../../../..');
export const FIXTURE_TREE = resolve(ROOT, '../shared/fixtures/holyfields-v1');
export const FIXTURE_REGISTRY = resolve(ROOT, '../shared/fixtures/registry/registry.seed-c53b8c0.yaml');
export const OWN_TREE = resolve(ROOT, 'schemas');
export const OWN_REGISTRY = resolve(ROOT, 'services/registry.yaml');
export const CLI = resolve(ROOT, 'packages/holyfields/src/cli.ts');

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `holyfields-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The `$id` of the schema at `rel` in a test tree. */
export const schemaId = (rel: string): string => `https://example.com/schemas/${rel}`;

/**
 * Writes schema trees under `base`: `tree(name, files)` writes each file (text or bytes as
 * given, anything else as JSON) into the folder `<base>/<name>`, made even with no files, and
 * returns it.
 */
export function treeWriter(base: string): (name: string, files: Record<string, unknown>) => string {
  return (name, files) => {
    const dir = join(base, name);
    mkdirSync(dir, { recursive: true });
    for (const [rel, content] of Object.entries(files)) {
      mkdirSync(join(dir, rel, '..'), { recursive: true });
      const data =
        typeof content === 'string' || content instanceof Uint8Array
          ? content
          : JSON.stringify(content, null, 2);
      writeFileSync(join(dir, rel), data);
    }
    return dir;
  };
}

/** A tree whose one schema is recursive: a named node whose children are nodes, through `$defs`. */
export const RECURSIVE_NODE_TREE: Readonly<Record<string, unknown>> = {
  'tree/node.created.v1.json': {
    $id: schemaId('tree/node.created.v1.json'),
    $ref: '#/$defs/node',
    $defs: {
      node: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          children: { type: 'array', items: { $ref: '#/$defs/node' } },
        },
        required: ['name'],
      },
    },
  },
};

/** The CLI arguments generating `lang` (ts, python or all) from the tree `dir` into `out`. */
export function generateArgs(dir: string, lang: string, out: string): string[] {
  return ['generate', '--schemas', dir, '--lang', lang, '--out', out];
}

/**
 * Generates both languages into `dir`: `ts/events.ts` (with a tsconfig and a node_modules link
 * so zod resolves from the repository) and `python/<pkg>/`.
 */
export async function generateInto(registry: SchemaRegistry, dir: string, pkg: string): Promise<void> {
  await writeGenerated(dir, generateFiles(registry, ['ts', 'python'], { pythonPackage: pkg }));
  const ts = join(dir, 'ts');
  if (!existsSync(join(ts, 'node_modules')))
    symlinkSync(join(ROOT, 'node_modules'), join(ts, 'node_modules'), 'dir');
  writeFileSync(join(ts, 'package.json'), '{"type":"module"}\n');
  writeFileSync(
    join(ts, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noUncheckedIndexedAccess: true,
        exactOptionalPropertyTypes: false,
        noEmit: true,
        skipLibCheck: true,
        types: [],
      },
      include: ['*.ts'],
    }),
  );
}

export function runNode(args: string[], cwd = ROOT): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', CLI, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, LOG_LEVEL: 'silent' },
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export interface PyCase {
  model: string;
  json: string;
}

const PY_HARNESS = `
import importlib, json, sys
from pydantic import TypeAdapter, ValidationError
sys.path.insert(0, sys.argv[1])
mod = importlib.import_module(sys.argv[2])
with open(sys.argv[3]) as f:
    cases = json.load(f)
adapters = {}
out = []
for c in cases:
    a = adapters.get(c["model"])
    if a is None:
        a = adapters[c["model"]] = TypeAdapter(getattr(mod, c["model"]))
    try:
        a.validate_json(c["json"])
        out.append(True)
    except ValidationError:
        out.append(False)
print(json.dumps(out))
`;

/** Validates every case with the generated Pydantic package in one python3 run; true = accepted. */
export function runPython(pythonDir: string, pkg: string, cases: PyCase[]): boolean[] {
  const file = join(pythonDir, `cases-${process.pid}.json`);
  writeFileSync(file, JSON.stringify(cases));
  const r = spawnSync('python3', ['-c', PY_HARNESS, pythonDir, pkg, file], {
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`python3 failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as boolean[];
}
