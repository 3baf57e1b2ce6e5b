import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { defaultSchemasDir, formatError, HOLYFIELDS_SCHEMAS, isAppError, readEnv } from '@33god/core';
import { bundleEntry, bundleRegistry } from './bundle/bundle.js';
import { catalogEntries, catalogHtml } from './catalog/catalog.js';
import { type CompatMode, checkCompatibility } from './check/compat.js';
import { type GenerateLanguage, generateFiles, writeGenerated } from './generate/index.js';
import { lintTree } from './lint/lint.js';
import { loadServiceRegistry } from './registry/service-registry.js';
import { loadSchemaTree, readSchemaTree } from './schema/registry.js';
import { parseJsonFile } from './schema/tree.js';

const USAGE = `usage: holyfields <command> [options]

commands:
  lint      [--schemas DIR]                               naming, $id, $ref and example rules
  validate  [--schemas DIR] [--unknown reject|warn|allow] FILE...   validate event JSON files
  generate  [--schemas DIR] --lang ts|python|all --out DIR [--python-package NAME]
  check     [--schemas DIR] --against DIR [--mode backward|forward|full]
  catalog   [--schemas DIR] [--registry FILE] --out DIR    static HTML catalog
  bundle    [--schemas DIR] [--out FILE] [--entry FILE --id URI]   the tree as one JSON document

common options:
  --schemas DIR        schema tree (default: $HOLYFIELDS_SCHEMAS or the project's schemas/)
  --discriminator P    property naming the event type (default event_type; type for CloudEvents trees)
`;

interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

const defaultIo: Io = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

class UsageError extends Error {}

/** Runs the CLI; returns the exit code (0 ok, 1 findings or errors, 2 usage). Never throws. */
export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'lint':
        return await lint(rest, io);
      case 'validate':
        return await validate(rest, io);
      case 'generate':
        return await generate(rest, io);
      case 'check':
        return await check(rest, io);
      case 'catalog':
        return await catalog(rest, io);
      case 'bundle':
        return await bundle(rest, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`error: ${(err as Error).message}`);
      io.err(USAGE);
      return 2;
    }
    io.err(isAppError(err) ? formatError(err) : `error: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

const common = {
  schemas: { type: 'string' },
  discriminator: { type: 'string' },
} as const;

function schemasDir(v: string | undefined): string {
  return v ?? readEnv(HOLYFIELDS_SCHEMAS) ?? defaultSchemasDir();
}

function need(v: string | undefined, name: string): string {
  if (v === undefined || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

async function lint(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args, options: common, strict: true });
  const dir = schemasDir(values.schemas);
  const findings = await lintTree(dir, values.discriminator ? { discriminator: values.discriminator } : {});
  for (const f of findings) io.out(`${f.file}: ${f.message} [${f.rule}]`);
  if (findings.length > 0) {
    io.err(`${findings.length} finding(s) in ${dir}`);
    return 1;
  }
  io.err(`${dir}: clean`);
  return 0;
}

async function validate(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { ...common, unknown: { type: 'string', default: 'reject' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length === 0) throw new UsageError('give one or more event JSON files');
  const policy = values.unknown;
  if (!['reject', 'warn', 'allow'].includes(policy))
    throw new UsageError('--unknown must be reject, warn or allow');
  const registry = await loadSchemaTree(schemasDir(values.schemas), discOpt(values.discriminator));
  let failed = 0;
  for (const file of positionals) {
    let events: unknown[];
    try {
      // As schema files are read: UTF-8, no duplicate keys, nesting the validators can walk.
      const parsed = parseJsonFile(await readFile(file));
      if ('error' in parsed) {
        io.out(`${file}: ${parsed.error}`);
        failed++;
        continue;
      }
      events = Array.isArray(parsed.json) ? parsed.json : [parsed.json];
    } catch {
      io.out(`${file}: cannot be read`);
      failed++;
      continue;
    }
    events.forEach((event, i) => {
      const where = events.length > 1 ? `${file}[${i}]` : file;
      let r: ReturnType<typeof registry.validate>;
      try {
        r = registry.validate(event);
      } catch (err) {
        // A recursive schema walks as deep as the event: a stack overflow is this event's problem.
        io.out(`${where}: cannot be validated: ${err instanceof Error ? err.message : String(err)}`);
        failed++;
        return;
      }
      const type = (event as Record<string, unknown> | null)?.[registry.discriminator];
      for (const v of r.violations) io.out(`${where}: ${v.pointer || '/'}: ${v.message}`);
      if (!r.known && typeof type === 'string' && policy !== 'allow') {
        io.out(`${where}: ${policy === 'warn' ? 'warning: ' : ''}no schema for event type '${type}'`);
      }
      if (!r.ok || (!r.known && policy === 'reject')) failed++;
      else if (r.violations.length === 0) io.out(`${where}: ok`);
    });
  }
  return failed > 0 ? 1 : 0;
}

function discOpt(d: string | undefined): { discriminator?: string } {
  return d ? { discriminator: d } : {};
}

async function generate(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...common,
      lang: { type: 'string' },
      out: { type: 'string' },
      'python-package': { type: 'string' },
    },
    strict: true,
  });
  const lang = need(values.lang, 'lang');
  const langs: GenerateLanguage[] =
    lang === 'all' ? ['ts', 'python'] : lang === 'ts' || lang === 'python' ? [lang] : [];
  if (langs.length === 0) throw new UsageError('--lang must be ts, python or all');
  const out = resolve(need(values.out, 'out'));
  const dir = schemasDir(values.schemas);
  const registry = await loadSchemaTree(dir, discOpt(values.discriminator));
  const source = relative(process.cwd(), resolve(dir)).split('\\').join('/') || '.';
  const files = generateFiles(registry, langs, {
    source,
    ...(values['python-package'] ? { pythonPackage: values['python-package'] } : {}),
  });
  const written = await writeGenerated(out, files);
  io.err(`generated ${written.length} file(s) in ${out} from ${registry.size} event types`);
  return 0;
}

async function check(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { ...common, against: { type: 'string' }, mode: { type: 'string', default: 'backward' } },
    strict: true,
  });
  const mode = values.mode as CompatMode;
  if (!['backward', 'forward', 'full'].includes(mode))
    throw new UsageError('--mode must be backward, forward or full');
  const next = await loadSchemaTree(schemasDir(values.schemas), discOpt(values.discriminator));
  const previous = await loadSchemaTree(need(values.against, 'against'), discOpt(values.discriminator));
  const breaking = checkCompatibility(next, previous, mode);
  for (const b of breaking) {
    io.out(
      `${b.eventType} v${b.version}: ${b.pointer || '/'}: ${b.message} (breaks ${b.direction} compatibility)`,
    );
  }
  if (breaking.length > 0) {
    io.err(`${breaking.length} breaking change(s) (${mode})`);
    return 1;
  }
  io.err(`compatible (${mode})`);
  return 0;
}

async function catalog(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { ...common, registry: { type: 'string' }, out: { type: 'string' } },
    strict: true,
  });
  const out = resolve(need(values.out, 'out'));
  const registry = await loadSchemaTree(schemasDir(values.schemas), discOpt(values.discriminator));
  const services = values.registry ? await loadServiceRegistry(values.registry) : undefined;
  const entries = catalogEntries(registry, services);
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'index.html'), catalogHtml(entries));
  await writeFile(join(out, 'catalog.json'), `${JSON.stringify(entries, null, 2)}\n`);
  io.err(`catalog of ${entries.length} event types in ${out}`);
  return 0;
}

async function bundle(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { ...common, out: { type: 'string' }, entry: { type: 'string' }, id: { type: 'string' } },
    strict: true,
  });
  const dir = schemasDir(values.schemas);
  let doc: unknown;
  if (values.entry) {
    const tree = await readSchemaTree(dir);
    doc = bundleEntry(tree, values.entry, need(values.id, 'id'));
  } else {
    doc = bundleRegistry(await loadSchemaTree(dir, discOpt(values.discriminator)));
  }
  const text = `${JSON.stringify(doc, null, 2)}\n`;
  if (values.out) {
    await mkdir(dirname(resolve(values.out)), { recursive: true });
    await writeFile(values.out, text);
    io.err(`bundle written to ${values.out}`);
  } else io.out(text.trimEnd());
  return 0;
}

// Run when executed directly (tests and `npm run` call this file through tsx).
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
}
