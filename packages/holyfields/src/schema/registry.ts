import { resolve } from 'node:path';
import { AppError, topicMatches, type Violation } from '@33god/core';
import type { ValidateFunction } from 'ajv/dist/2020.js';
import { createAjv, toViolations } from './ajv.js';
import { type EventFile, eventFiles, type SchemaKind } from './events.js';
import builtinEnvelope from './generated/envelope.bundle.json' with { type: 'json' };
import {
  isObject,
  type JsonObject,
  problemError,
  readTreeFiles,
  type SchemaFile,
  SchemaTree,
  type TreeProblem,
  walkSchema,
} from './tree.js';

/** What the registry knows about one event type at one version. */
export interface EventSchemaInfo {
  readonly eventType: string;
  readonly version: number;
  /** Path relative to the tree root. */
  readonly file: string;
  /** The schema's `$id` (its file URL when it declares none). */
  readonly id: string;
  readonly kind: SchemaKind;
  /** The schema as written. */
  readonly schema: JsonObject;
  readonly title?: string;
  readonly description?: string;
  /** The schema's `examples`: payloads for payload schemas, whole events for envelope schemas. */
  readonly examples: unknown[];
}

export interface ValidationResult {
  readonly ok: boolean;
  /** False when no schema covers the event's type: the caller applies its reject/warn/allow policy. */
  readonly known: boolean;
  readonly violations: readonly Violation[];
}

export interface LoadSchemaTreeOptions {
  /** The property naming the event type: `event_type` (default), `type` for CloudEvents-shaped trees. */
  readonly discriminator?: string;
  /** Where payload schemas apply inside an event: `payload` (default), `data` when the discriminator is `type`. */
  readonly payloadProperty?: string;
  /**
   * The envelope every event is validated against: the tree's `_common/envelope.v1.json` when it
   * has one, else the project's built-in envelope (when the discriminator is `event_type`).
   * `false` validates against the event's own schema only.
   */
  readonly envelope?: false | JsonObject;
}

interface Entry {
  readonly info: EventSchemaInfo;
  readonly validate: ValidateFunction;
  /** The schema covers the payload only (kept here so the hot path reads one property). */
  readonly payloadOnly: boolean;
}

const VALID: ValidationResult = Object.freeze({ ok: true, known: true, violations: Object.freeze([]) });
const ENVELOPE_FILE = '_common/envelope.v1.json';

/** The loaded schema tree: every event type with compiled validators. */
export class SchemaRegistry {
  readonly dir: string;
  /** Every event type the tree covers, sorted; wildcard schemas appear as their topic pattern. */
  readonly eventTypes: string[];
  readonly discriminator: string;
  readonly payloadProperty: string;
  /** The tree as read, for the generators, lint and bundle. */
  readonly tree: SchemaTree;
  /** The event schema files, for the generators. */
  readonly events: readonly EventFile[];
  readonly #byType: Map<string, Entry[]>;
  readonly #patterns: { pattern: string; entries: Entry[] }[];
  readonly #patternCache = new Map<string, Entry[] | null>();
  readonly #envelope: ValidateFunction | undefined;

  /** @internal use `loadSchemaTree` */
  constructor(init: {
    dir: string;
    tree: SchemaTree;
    events: EventFile[];
    byType: Map<string, Entry[]>;
    patterns: { pattern: string; entries: Entry[] }[];
    envelope: ValidateFunction | undefined;
    discriminator: string;
    payloadProperty: string;
  }) {
    this.dir = init.dir;
    this.tree = init.tree;
    this.events = init.events;
    this.#byType = init.byType;
    this.#patterns = init.patterns;
    this.#envelope = init.envelope;
    this.discriminator = init.discriminator;
    this.payloadProperty = init.payloadProperty;
    this.eventTypes = [...init.byType.keys(), ...init.patterns.map((p) => p.pattern)].sort();
  }

  get size(): number {
    return this.eventTypes.length;
  }

  has(type: string): boolean {
    return this.#entries(type) !== undefined;
  }

  /** The schema of `type` at `version` (the latest when omitted). Wildcard schemas answer for matching types. */
  get(type: string, version?: number): EventSchemaInfo | undefined {
    const entries = this.#entries(type);
    if (!entries) return undefined;
    if (version === undefined) return entries[entries.length - 1]!.info;
    return entries.find((e) => e.info.version === version)?.info;
  }

  /** Every (event type, version), sorted by type then version. */
  list(): EventSchemaInfo[] {
    const out: EventSchemaInfo[] = [];
    for (const t of this.eventTypes) {
      const entries = this.#byType.get(t) ?? this.#patterns.find((p) => p.pattern === t)?.entries ?? [];
      for (const e of entries) out.push(e.info);
    }
    return out;
  }

  /**
   * Validates a whole event: against the envelope, then against its type's schema (the whole
   * event for envelope schemas, `event.payload` for payload schemas, pointers under `/payload`).
   * The schema version is the major of the event's `version` when the tree has it, else the latest.
   */
  validate(event: unknown): ValidationResult {
    return guardDepth(() => this.#validate(event));
  }

  #validate(event: unknown): ValidationResult {
    const env = this.#envelope;
    let violations: Violation[] | undefined;
    if (env !== undefined && !env(event)) violations = toViolations(env.errors);
    const type = isObject(event) ? event[this.discriminator] : undefined;
    const entries = typeof type === 'string' ? this.#entries(type) : undefined;
    if (entries === undefined) {
      return { ok: violations === undefined, known: false, violations: violations ?? [] };
    }
    const entry = entries.length === 1 ? entries[0]! : pickVersion(entries, (event as JsonObject).version);
    if (entry.payloadOnly) {
      const payload = (event as JsonObject)[this.payloadProperty];
      // A missing or non-object payload is already an envelope violation; without an envelope it is one here.
      if (isObject(payload) || env === undefined) {
        if (!entry.validate(payload)) {
          violations = [
            ...(violations ?? []),
            ...toViolations(entry.validate.errors, `/${this.payloadProperty}`),
          ];
        }
      }
    } else if (!entry.validate(event)) {
      violations = dedupe([...(violations ?? []), ...toViolations(entry.validate.errors)]);
    }
    return violations === undefined ? VALID : { ok: false, known: true, violations };
  }

  /** Validates a payload alone against the schema of `type` (for producers that build the envelope later). */
  validatePayload(type: string, payload: unknown, version?: number): ValidationResult {
    return guardDepth(() => this.#validatePayload(type, payload, version));
  }

  #validatePayload(type: string, payload: unknown, version?: number): ValidationResult {
    const entries = this.#entries(type);
    if (entries === undefined) return { ok: true, known: false, violations: [] };
    const entry =
      version === undefined ? entries[entries.length - 1]! : entries.find((e) => e.info.version === version);
    if (entry === undefined) return { ok: true, known: false, violations: [] };
    if (entry.info.kind === 'envelope') {
      return this.validate({ [this.discriminator]: type, [this.payloadProperty]: payload });
    }
    if (entry.validate(payload)) return VALID;
    return { ok: false, known: true, violations: toViolations(entry.validate.errors) };
  }

  /**
   * Validates `value` against the type's own schema only, without the envelope: a payload for
   * payload schemas, a whole event for envelope schemas.
   */
  validateSchema(type: string, value: unknown, version?: number): ValidationResult {
    return guardDepth(() => this.#validateSchema(type, value, version));
  }

  #validateSchema(type: string, value: unknown, version?: number): ValidationResult {
    const entries = this.#entries(type);
    const entry =
      version === undefined
        ? entries?.[entries.length - 1]
        : entries?.find((e) => e.info.version === version);
    if (entry === undefined) return { ok: true, known: false, violations: [] };
    if (entry.validate(value)) return VALID;
    return { ok: false, known: true, violations: toViolations(entry.validate.errors) };
  }

  #entries(type: string): Entry[] | undefined {
    const exact = this.#byType.get(type);
    if (exact !== undefined || this.#patterns.length === 0) return exact;
    let hit = this.#patternCache.get(type);
    if (hit === undefined) {
      hit = this.#patterns.find((p) => topicMatches(p.pattern, type))?.entries ?? null;
      if (this.#patternCache.size > 10_000) this.#patternCache.clear();
      this.#patternCache.set(type, hit);
    }
    return hit ?? undefined;
  }
}

/**
 * A recursive schema makes Ajv descend as deep as the instance: an event nested deeper than
 * the stack allows is a violation, not a crash of the caller.
 */
function guardDepth(run: () => ValidationResult): ValidationResult {
  try {
    return run();
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    return {
      ok: false,
      known: true,
      violations: [{ pointer: '', message: 'is nested too deeply to validate', keyword: 'depth' }],
    };
  }
}

function pickVersion(entries: Entry[], version: unknown): Entry {
  if (typeof version === 'string') {
    const m = /^v?(\d+)/.exec(version);
    if (m) {
      const major = Number(m[1]);
      const e = entries.find((x) => x.info.version === major);
      if (e) return e;
    }
  }
  return entries[entries.length - 1]!;
}

function dedupe(vs: Violation[]): Violation[] {
  const seen = new Set<string>();
  return vs.filter((v) => {
    const k = `${v.pointer}\0${v.keyword}\0${v.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** A copy of a file's schema with every `$ref` made absolute (`<target $id>#<pointer>`). */
export function absolutizeRefs(tree: SchemaTree, file: SchemaFile): JsonObject {
  const clone = structuredClone(file.json);
  clone.$id = file.id;
  walkSchema(clone, (s, p) => {
    if (typeof s.$ref !== 'string') return;
    const t = tree.mustResolve(s.$ref, file, p);
    s.$ref = `${t.file.id}#${encodeURI(t.pointer)}`;
  });
  return clone;
}

/** Reads and checks a tree, throwing the first problem. */
export async function readSchemaTree(dir: string): Promise<SchemaTree> {
  const { files, problems } = await readTreeFiles(dir);
  const tree = new SchemaTree(resolve(dir), files);
  const all: TreeProblem[] = [...problems, ...duplicateIds(files)];
  if (all.length === 0) all.push(...tree.refProblems());
  if (all.length > 0) throw problemError(all[0]!);
  return tree;
}

export function duplicateIds(files: readonly SchemaFile[]): TreeProblem[] {
  const seen = new Map<string, string>();
  const out: TreeProblem[] = [];
  for (const f of files) {
    const other = seen.get(f.id);
    if (other !== undefined) {
      out.push({ code: 'SCHEMA_INVALID', file: f.rel, message: `$id '${f.id}' is also the $id of ${other}` });
    } else seen.set(f.id, f.rel);
  }
  return out;
}

/**
 * Loads a schema tree: every JSON file under `dir` (nested folders allowed), cross-file `$ref`s,
 * indexes each event schema by type and version, and compiles the validators once.
 * Throws AppError (SCHEMA_* codes, `extra.file`) naming the file and the problem.
 */
export async function loadSchemaTree(
  dir: string,
  options: LoadSchemaTreeOptions = {},
): Promise<SchemaRegistry> {
  const discriminator = options.discriminator ?? 'event_type';
  const payloadProperty = options.payloadProperty ?? (discriminator === 'type' ? 'data' : 'payload');
  const tree = await readSchemaTree(dir);
  const { events, problems } = eventFiles(tree, discriminator);
  if (problems.length > 0) throw problemError(problems[0]!);

  const ajv = createAjv();
  for (const f of tree.sortedFiles()) {
    try {
      ajv.addSchema(absolutizeRefs(tree, f));
    } catch (err) {
      const meta = f.json.$schema;
      if (
        typeof meta === 'string' &&
        (err as Error).message?.includes(`no schema with key or ref "${meta}"`)
      ) {
        throw new AppError(
          'SCHEMA_INVALID',
          `${f.rel}: $schema '${meta}' is not supported (draft 2020-12, draft-07 and draft-06 are)`,
          { extra: { file: f.rel }, violations: [{ pointer: '/$schema', message: 'unsupported dialect' }] },
        );
      }
      throw schemaInvalid(f.rel, err);
    }
  }

  const byType = new Map<string, Entry[]>();
  const patterns: { pattern: string; entries: Entry[] }[] = [];
  const claimed = new Map<string, string>();
  for (const ev of events) {
    let validate: ValidateFunction;
    try {
      validate = ajv.getSchema(ev.file.id) as ValidateFunction;
    } catch (err) {
      throw schemaInvalid(ev.file.rel, err);
    }
    for (const t of [...ev.types, ...ev.patterns]) {
      const key = `${t}@${ev.version}`;
      const other = claimed.get(key);
      if (other !== undefined) {
        throw new AppError(
          'SCHEMA_DUPLICATE_TYPE',
          `${ev.file.rel}: event type '${t}' version ${ev.version} is also claimed by ${other}`,
          { extra: { file: ev.file.rel, other, eventType: t } },
        );
      }
      claimed.set(key, ev.file.rel);
      const entry: Entry = { info: infoOf(ev, t), validate, payloadOnly: ev.kind === 'payload' };
      if (ev.patterns.includes(t)) {
        let p = patterns.find((x) => x.pattern === t);
        if (!p) {
          p = { pattern: t, entries: [] };
          patterns.push(p);
        }
        p.entries.push(entry);
      } else {
        const list = byType.get(t) ?? [];
        list.push(entry);
        byType.set(t, list);
      }
    }
  }
  for (const list of [...byType.values(), ...patterns.map((p) => p.entries)]) {
    list.sort((a, b) => a.info.version - b.info.version);
  }

  let envelope: ValidateFunction | undefined;
  if (options.envelope !== false) {
    const own = tree.files.get(ENVELOPE_FILE);
    try {
      if (options.envelope !== undefined) envelope = createAjv().compile(options.envelope);
      else if (own) envelope = ajv.getSchema(own.id) as ValidateFunction;
      else if (discriminator === 'event_type') envelope = createAjv().compile(builtinEnvelope);
    } catch (err) {
      throw schemaInvalid(own?.rel ?? 'envelope', err);
    }
  }
  return new SchemaRegistry({
    dir: tree.dir,
    tree,
    events,
    byType,
    patterns,
    envelope,
    discriminator,
    payloadProperty,
  });
}

function infoOf(ev: EventFile, eventType: string): EventSchemaInfo {
  const s = ev.file.json;
  const info: {
    -readonly [K in keyof EventSchemaInfo]: EventSchemaInfo[K];
  } = {
    eventType,
    version: ev.version,
    file: ev.file.rel,
    id: ev.file.id,
    kind: ev.kind,
    schema: s,
    examples: Array.isArray(s.examples) ? s.examples : [],
  };
  if (typeof s.title === 'string') info.title = s.title;
  if (typeof s.description === 'string') info.description = s.description;
  return info;
}

function schemaInvalid(file: string, err: unknown): AppError {
  const msg = err instanceof Error ? err.message.split('\n')[0]! : String(err);
  return new AppError('SCHEMA_INVALID', `${file}: ${msg}`, { extra: { file }, cause: err });
}
