import { isValidPattern } from '@33god/core';
import {
  isObject,
  isSharedFile,
  type JsonObject,
  pathEventType,
  pathVersion,
  type SchemaFile,
  type SchemaTree,
  type TreeProblem,
} from './tree.js';

/**
 * How a schema file describes its events:
 * - `envelope`: the whole event (the original Holyfields style): it declares the
 *   discriminator property (`event_type` by default) with a `const` or an `enum`,
 *   directly or through a top-level `allOf`.
 * - `payload`: only the payload. Its event type comes from the file path
 *   (`<domain>/<entity>.<action>.v<N>.json`) unless `x-event-type` names one or more types
 *   (AMQP topic patterns allowed, e.g. `webhook.github.#`).
 */
export type SchemaKind = 'envelope' | 'payload';

export interface EventFile {
  readonly file: SchemaFile;
  readonly kind: SchemaKind;
  /** Exact event types this schema covers. */
  readonly types: readonly string[];
  /** Topic patterns this schema covers (payload schemas with a wildcard `x-event-type`). */
  readonly patterns: readonly string[];
  readonly version: number;
}

/** The discriminator values a schema declares (const or enum), following `$ref` and top-level `allOf`. */
export function discriminatorValues(
  tree: SchemaTree,
  file: SchemaFile,
  node: unknown,
  disc: string,
  depth = 0,
): string[] | undefined {
  if (!isObject(node) || depth > 32) return undefined;
  if (typeof node.$ref === 'string') {
    const r = tree.resolveRef(node.$ref, file);
    if (!('error' in r)) {
      const v = discriminatorValues(tree, r.file, r.node, disc, depth + 1);
      if (v) return v;
    }
  }
  const props = node.properties;
  if (isObject(props) && disc in props) {
    const v = literalValues(tree, file, props[disc], depth);
    if (v) return v;
  }
  if (Array.isArray(node.allOf)) {
    for (const sub of node.allOf) {
      const v = discriminatorValues(tree, file, sub, disc, depth + 1);
      if (v) return v;
    }
  }
  return undefined;
}

function literalValues(
  tree: SchemaTree,
  file: SchemaFile,
  prop: unknown,
  depth: number,
): string[] | undefined {
  if (!isObject(prop) || depth > 32) return undefined;
  if (typeof prop.const === 'string') return [prop.const];
  if (Array.isArray(prop.enum) && prop.enum.every((v) => typeof v === 'string')) return [...prop.enum];
  if (typeof prop.$ref === 'string') {
    const r = tree.resolveRef(prop.$ref, file);
    if (!('error' in r)) return literalValues(tree, r.file, r.node, depth + 1);
  }
  return undefined;
}

/** Every event schema of the tree (shared `_` files excluded), with problems found on the way. */
export function eventFiles(tree: SchemaTree, disc: string): { events: EventFile[]; problems: TreeProblem[] } {
  const events: EventFile[] = [];
  const problems: TreeProblem[] = [];
  for (const file of tree.sortedFiles()) {
    if (isSharedFile(file.rel)) continue;
    const version = pathVersion(file.rel) ?? 1;
    const declared = discriminatorValues(tree, file, file.json, disc);
    if (declared) {
      events.push({ file, kind: 'envelope', types: [...declared], patterns: [], version });
      continue;
    }
    const named = payloadTypes(file.json);
    if (named === null) {
      problems.push({
        code: 'SCHEMA_INVALID',
        file: file.rel,
        pointer: '/x-event-type',
        message: 'x-event-type must be an event type or a non-empty array of event types or topic patterns',
      });
      continue;
    }
    const all = named ?? [pathEventType(file.rel)];
    const patterns = all.filter((t) => t.includes('*') || t.includes('#'));
    const bad = patterns.find((p) => !isValidPattern(p));
    if (bad !== undefined) {
      problems.push({
        code: 'SCHEMA_INVALID',
        file: file.rel,
        pointer: '/x-event-type',
        message: `'${bad}' is not a valid topic pattern`,
      });
      continue;
    }
    events.push({
      file,
      kind: 'payload',
      types: all.filter((t) => !patterns.includes(t)),
      patterns,
      version,
    });
  }
  return { events, problems };
}

/** `x-event-type` as a list; undefined when absent, null when malformed. */
function payloadTypes(json: JsonObject): string[] | undefined | null {
  const v = json['x-event-type'];
  if (v === undefined) return undefined;
  if (typeof v === 'string' && v.length > 0) return [v];
  if (Array.isArray(v) && v.length > 0 && v.every((t) => typeof t === 'string' && t.length > 0))
    return [...v];
  return null;
}
