import type { Dirent } from 'node:fs';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AppError, type ErrorCode } from '@33god/core';
import { escapePointer, getPointer } from './pointer.js';

/** One JSON file of a schema tree. */
export interface SchemaFile {
  /** Path relative to the tree root, with `/` separators. */
  readonly rel: string;
  readonly abs: string;
  readonly json: JsonObject;
  /** `$id` when the file declares one, else its file URL: the base every relative `$ref` resolves against. */
  readonly id: string;
  readonly declaredId: string | undefined;
}

export type JsonObject = { [key: string]: unknown };

/** A problem found while reading a tree: what `loadSchemaTree` throws and `lint` prints. */
export interface TreeProblem {
  readonly code: ErrorCode;
  readonly file: string;
  readonly message: string;
  readonly pointer?: string;
}

/** Where a `$ref` points: a file and a JSON pointer inside it. */
export interface RefTarget {
  readonly file: SchemaFile;
  readonly pointer: string;
  readonly node: unknown;
}

/** Keywords whose value is one subschema. */
const SINGLE_SCHEMA = [
  'additionalProperties',
  'unevaluatedProperties',
  'items',
  'additionalItems',
  'unevaluatedItems',
  'contains',
  'propertyNames',
  'not',
  'if',
  'then',
  'else',
  'contentSchema',
] as const;
/** Keywords whose value is an array of subschemas. */
const ARRAY_SCHEMAS = ['allOf', 'anyOf', 'oneOf', 'prefixItems'] as const;
/** Keywords whose value maps names to subschemas. */
const MAP_SCHEMAS = ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas'] as const;
/** Applicators that apply a subschema to the same instance location (no descent into the data). */
const IN_PLACE_SINGLE = ['not', 'if', 'then', 'else'] as const;
const IN_PLACE_ARRAY = ['allOf', 'anyOf', 'oneOf'] as const;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Calls `visit` for every subschema of `node` (itself included) with its JSON pointer. */
export function walkSchema(
  node: unknown,
  visit: (schema: JsonObject, pointer: string) => void,
  pointer = '',
): void {
  if (!isObject(node)) return;
  visit(node, pointer);
  for (const k of SINGLE_SCHEMA) {
    if (k in node) walkSchema(node[k], visit, `${pointer}/${k}`);
  }
  for (const k of ARRAY_SCHEMAS) {
    const v = node[k];
    if (Array.isArray(v)) {
      for (const [i, s] of v.entries()) walkSchema(s, visit, `${pointer}/${k}/${i}`);
    }
  }
  for (const k of MAP_SCHEMAS) {
    const v = node[k];
    if (isObject(v)) {
      for (const name of Object.keys(v)) walkSchema(v[name], visit, `${pointer}/${k}/${escapePointer(name)}`);
    }
  }
  const deps = node.dependencies;
  if (isObject(deps)) {
    for (const name of Object.keys(deps)) {
      if (isObject(deps[name]))
        walkSchema(deps[name], visit, `${pointer}/dependencies/${escapePointer(name)}`);
    }
  }
}

const VERSION_RE = /\.v(\d+)\.json$/;

/** The event type a file's path names: `agent/thread/prompt.v1.json` → `agent.thread.prompt`. */
export function pathEventType(rel: string): string {
  return rel
    .replace(VERSION_RE, '')
    .replace(/\.json$/, '')
    .split('/')
    .join('.');
}

/** The version a file's name carries (`.v2.json` → 2), or undefined. */
export function pathVersion(rel: string): number | undefined {
  const m = VERSION_RE.exec(rel);
  return m ? Number(m[1]) : undefined;
}

/** Files under a folder or with a name starting with `_` hold shared definitions, not events. */
export function isSharedFile(rel: string): boolean {
  return rel.split('/').some((part) => part.startsWith('_'));
}

/** A schema tree read from disk: every JSON file, indexed by `$id` and by location. */
export class SchemaTree {
  readonly dir: string;
  readonly files: ReadonlyMap<string, SchemaFile>;
  readonly #byId = new Map<string, SchemaFile>();
  readonly #byUrl = new Map<string, SchemaFile>();

  constructor(dir: string, files: readonly SchemaFile[]) {
    this.dir = dir;
    this.files = new Map(files.map((f) => [f.rel, f]));
    for (const f of files) {
      this.#byUrl.set(pathToFileURL(f.abs).href, f);
      if (f.declaredId !== undefined && !this.#byId.has(stripHash(f.declaredId))) {
        this.#byId.set(stripHash(f.declaredId), f);
      }
    }
  }

  /** Files sorted by relative path (a deterministic order for everything built from the tree). */
  sortedFiles(): SchemaFile[] {
    return [...this.files.values()].sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  }

  /**
   * Resolves `ref` written in `from`: against the file's `$id` first (as Ajv does), then
   * against its location on disk, so a tree whose `$id`s do not mirror its folders still works.
   */
  resolveRef(ref: string, from: SchemaFile): RefTarget | { error: string } {
    let docUrl: string;
    let fragment: string;
    let target: SchemaFile | undefined;
    try {
      const u = new URL(ref, from.id);
      fragment = decodeURIComponent(u.hash.slice(1));
      docUrl = stripHash(u.href);
      target = this.#byId.get(docUrl) ?? this.#byUrl.get(docUrl);
      if (target === undefined && from.declaredId !== undefined) {
        const byPath = new URL(ref, pathToFileURL(from.abs));
        target = this.#byUrl.get(stripHash(byPath.href));
      }
    } catch {
      return { error: `$ref '${ref}' is not a valid URI reference` };
    }
    if (target === undefined)
      return { error: `$ref '${ref}' does not resolve: no schema with that $id or path` };
    if (fragment === '' || fragment.startsWith('/')) {
      const node = getPointer(target.json, fragment);
      if (node === undefined) {
        return { error: `$ref '${ref}' does not resolve: ${target.rel} has nothing at #${fragment}` };
      }
      return { file: target, pointer: fragment, node };
    }
    let found: RefTarget | undefined;
    walkSchema(target.json, (s, p) => {
      if (found === undefined && s.$anchor === fragment) found = { file: target, pointer: p, node: s };
    });
    return found ?? { error: `$ref '${ref}' does not resolve: ${target.rel} has no $anchor '${fragment}'` };
  }

  /** Resolves a `$ref` or throws SCHEMA_REF_UNRESOLVED naming the file. */
  mustResolve(ref: string, from: SchemaFile, pointer = ''): RefTarget {
    const r = this.resolveRef(ref, from);
    if ('error' in r) {
      throw new AppError(
        'SCHEMA_REF_UNRESOLVED',
        `${from.rel}${pointer ? ` at #${pointer}` : ''}: ${r.error}`,
        {
          extra: { file: from.rel },
        },
      );
    }
    return r;
  }

  /** Every problem of the tree's references: unresolved `$ref`s, `$ref` cycles, embedded `$id`s. */
  refProblems(): TreeProblem[] {
    const problems: TreeProblem[] = [];
    for (const f of this.sortedFiles()) {
      walkSchema(f.json, (s, p) => {
        if (p !== '' && typeof s.$id === 'string') {
          problems.push({
            code: 'SCHEMA_INVALID',
            file: f.rel,
            pointer: p,
            message: `embedded $id at #${p} is not supported; give the subschema its own file`,
          });
        }
        if (isObject(s.properties) && Object.hasOwn(s.properties, '__proto__')) {
          // Ajv and Zod store property schemas in plain objects, where `__proto__` is the prototype.
          problems.push({
            code: 'SCHEMA_INVALID',
            file: f.rel,
            pointer: `${p}/properties/__proto__`,
            message: `a member named '__proto__' at #${p}/properties is not supported: validators would ignore its schema`,
          });
        }
        if (typeof s.$ref === 'string') {
          const r = this.resolveRef(s.$ref, f);
          if ('error' in r) {
            problems.push({ code: 'SCHEMA_REF_UNRESOLVED', file: f.rel, pointer: p, message: r.error });
          }
        }
        if (typeof s.$dynamicRef === 'string') {
          problems.push({
            code: 'SCHEMA_INVALID',
            file: f.rel,
            pointer: p,
            message: '$dynamicRef is not supported',
          });
        }
      });
    }
    if (problems.length === 0) problems.push(...this.#cycles());
    return problems;
  }

  /**
   * A circular reference is a loop of `$ref` and in-place applicators (`allOf`, `anyOf`,
   * `oneOf`, `not`, `if`/`then`/`else`) that returns to where it started without descending
   * into the instance: validating it would never reach a real constraint. A `$ref` back to an
   * ancestor from under `properties` or `items` is a recursive schema, which is valid.
   */
  #cycles(): TreeProblem[] {
    const state = new Map<string, 1 | 2>();
    const problems: TreeProblem[] = [];
    const visit = (file: SchemaFile, pointer: string, node: unknown, path: string[]): void => {
      if (!isObject(node)) return;
      const key = `${file.rel}#${pointer}`;
      const st = state.get(key);
      if (st === 2) return;
      if (st === 1) {
        const start = path.indexOf(key);
        const chain = [...path.slice(start), key].join(' → ');
        problems.push({
          code: 'SCHEMA_REF_CIRCULAR',
          file: file.rel,
          pointer,
          message: `circular $ref: ${chain} never reaches a schema that constrains the data`,
        });
        return;
      }
      state.set(key, 1);
      path.push(key);
      if (typeof node.$ref === 'string') {
        const r = this.resolveRef(node.$ref, file);
        if (!('error' in r)) visit(r.file, r.pointer, r.node, path);
      }
      for (const k of IN_PLACE_SINGLE) {
        if (k in node) visit(file, `${pointer}/${k}`, node[k], path);
      }
      for (const k of IN_PLACE_ARRAY) {
        const v = node[k];
        if (Array.isArray(v)) {
          for (const [i, s] of v.entries()) visit(file, `${pointer}/${k}/${i}`, s, path);
        }
      }
      path.pop();
      state.set(key, 2);
    };
    for (const f of this.sortedFiles()) {
      walkSchema(f.json, (s, p) => visit(f, p, s, []));
      if (problems.length > 0) break;
    }
    return problems;
  }
}

function stripHash(url: string): string {
  const i = url.indexOf('#');
  return i < 0 ? url : url.slice(0, i);
}

/** Reads every `*.json` file under `dir`. Problems (unreadable, malformed) are returned, not thrown. */
export async function readTreeFiles(dir: string): Promise<{ files: SchemaFile[]; problems: TreeProblem[] }> {
  const root = resolve(dir);
  const problems: TreeProblem[] = [];
  const files: SchemaFile[] = [];
  try {
    const st = await stat(root);
    if (!st.isDirectory()) {
      return {
        files,
        problems: [{ code: 'SCHEMA_LOAD_FAILED', file: dir, message: 'is not a directory' }],
      };
    }
  } catch (err) {
    return { files, problems: [{ code: 'SCHEMA_LOAD_FAILED', file: dir, message: fsReason(err) }] };
  }
  const realRoot = await realpath(root);
  const walk = async (d: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch (err) {
      problems.push({
        code: 'SCHEMA_LOAD_FAILED',
        file: relative(root, d).split(sep).join('/') || dir,
        message: `directory cannot be read: ${fsReason(err)}`,
      });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.') || e.name === 'node_modules') continue;
      const abs = join(d, e.name);
      if (e.isDirectory()) {
        await walk(abs);
        continue;
      }
      if (!e.name.endsWith('.json')) continue;
      const rel = relative(root, abs).split(sep).join('/');
      const refused = await unreadable(abs, e, realRoot);
      if (refused !== undefined) {
        problems.push({ code: 'SCHEMA_LOAD_FAILED', file: rel, message: refused });
        continue;
      }
      let bytes: Buffer;
      try {
        bytes = await readFile(abs);
      } catch (err) {
        problems.push({ code: 'SCHEMA_LOAD_FAILED', file: rel, message: `cannot be read: ${fsReason(err)}` });
        continue;
      }
      const parsed = parseJsonFile(bytes);
      if ('error' in parsed) {
        problems.push({
          code: 'SCHEMA_PARSE_ERROR',
          file: rel,
          message: parsed.error,
          ...(parsed.pointer !== undefined ? { pointer: parsed.pointer } : {}),
        });
        continue;
      }
      const json = parsed.json;
      if (!isObject(json)) {
        problems.push({
          code: 'SCHEMA_INVALID',
          file: rel,
          message: 'a schema file must hold a JSON object',
        });
        continue;
      }
      const declaredId = typeof json.$id === 'string' ? json.$id : undefined;
      let id = pathToFileURL(abs).href;
      if (declaredId !== undefined) {
        try {
          id = stripHash(new URL(declaredId).href);
        } catch {
          problems.push({
            code: 'SCHEMA_INVALID',
            file: rel,
            message: `$id '${declaredId}' is not an absolute URI`,
          });
          continue;
        }
      }
      files.push({ rel, abs, json, id, declaredId });
    }
  };
  await walk(root);
  return { files, problems };
}

/** Schema files are at most this large (a schema is kilobytes; this keeps a stray dump out of memory). */
export const MAX_SCHEMA_BYTES = 64 * 1024 * 1024;

/**
 * Why a `*.json` entry is not read, if it is not: only regular files inside the tree are (a
 * symbolic link is followed when its target is a file inside the tree; a FIFO would block).
 * Symbolic links to folders are not followed at all, so a link loop cannot make the walk endless.
 */
async function unreadable(abs: string, entry: Dirent, realRoot: string): Promise<string | undefined> {
  let path = abs;
  if (entry.isSymbolicLink()) {
    try {
      path = await realpath(abs);
    } catch (err) {
      return `symbolic link cannot be followed: ${fsReason(err)}`;
    }
    if (!path.startsWith(realRoot + sep)) return 'symbolic link points outside the schema tree';
  } else if (!entry.isFile()) return 'is not a regular file';
  try {
    const st = await stat(path);
    if (!st.isFile()) return 'is not a regular file';
    if (st.size > MAX_SCHEMA_BYTES) return `is larger than ${MAX_SCHEMA_BYTES / 1024 / 1024} MiB`;
  } catch (err) {
    return `cannot be read: ${fsReason(err)}`;
  }
  return undefined;
}

function fsReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOTDIR') return 'not a directory';
  if (code === 'ELOOP') return 'symbolic link loop';
  return code ?? 'unreadable';
}

/** The parser's message without the stack, with the line and column of the position it gives. */
function jsonReason(err: unknown, text: string): string {
  const msg = err instanceof Error ? err.message.split('\n')[0]! : 'unparseable';
  const m = / at position (\d+)/.exec(msg);
  return m ? `${msg.replace(/ \(line \d+ column \d+\)$/, '')} (${lineColumn(text, Number(m[1]))})` : msg;
}

function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `line ${line}, column ${offset - before.lastIndexOf('\n')}`;
}

/** Deeper documents are refused: the recursive walks of Holyfields and Ajv would overflow the stack. */
export const MAX_JSON_DEPTH = 256;

/**
 * Parses a schema file as JSON RFC 8259 asks: UTF-8 (a leading byte order mark is ignored), no
 * duplicate member names (JSON.parse would keep the last one silently), at most
 * MAX_JSON_DEPTH levels of nesting. Errors name the line and column or the JSON pointer.
 */
export function parseJsonFile(bytes: Uint8Array): { json: unknown } | { error: string; pointer?: string } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    const loose = new TextDecoder('utf-8').decode(bytes);
    return { error: `not valid UTF-8 (${lineColumn(loose, Math.max(0, loose.indexOf('\uFFFD')))})` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { error: `malformed JSON: ${jsonReason(err, text)}` };
  }
  const problem = structureProblem(text);
  return problem ?? { json };
}

/** Duplicate member names and excessive nesting in (already valid) JSON text, without recursion. */
function structureProblem(text: string): { error: string; pointer?: string } | undefined {
  interface Frame {
    object: boolean;
    pointer: string;
    keys: Set<string>;
    index: number;
    key: string | undefined;
    expectKey: boolean;
  }
  const stack: Frame[] = [];
  const childPointer = (f: Frame | undefined): string =>
    f === undefined ? '' : `${f.pointer}/${f.object ? escapePointer(f.key ?? '') : String(f.index)}`;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const top = stack[stack.length - 1];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (top?.object && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) {
          return {
            error: `duplicate key ${JSON.stringify(key)} (${lineColumn(text, i)})`,
            pointer: top.pointer,
          };
        }
        top.keys.add(key);
        top.key = key;
        top.expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      if (stack.length >= MAX_JSON_DEPTH) {
        return { error: `nested more than ${MAX_JSON_DEPTH} levels deep (${lineColumn(text, i)})` };
      }
      stack.push({
        object: c === '{',
        pointer: childPointer(top),
        keys: new Set(),
        index: 0,
        key: undefined,
        expectKey: c === '{',
      });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',' && top) {
      if (top.object) top.expectKey = true;
      else top.index++;
    }
  }
  return undefined;
}

/** Turns a problem into the AppError `loadSchemaTree` throws. */
export function problemError(p: TreeProblem): AppError {
  return new AppError(p.code, `${p.file}: ${p.message}`, {
    extra: { file: p.file },
    violations: p.pointer !== undefined ? [{ pointer: p.pointer, message: p.message }] : [],
  });
}
