import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { loadSchemaTree } from '@33god/holyfields';
import { backends, FIXTURE_TREE, harness, json } from './helpers.js';

/**
 * One valid and one broken event for every schema of the original Holyfields tree. Valid
 * events are built from the schema itself (following $ref, allOf, enums, formats), so a schema
 * the gateway cannot load or follow shows up as a failure here.
 */

type Schema = Record<string, unknown>;

// The fixture tree's patterns, with a value each that matches.
const PATTERN_SAMPLES: Record<string, string> = {
  '^[a-z0-9]+\\.[a-z0-9._]+$': 'agent.sample',
  '^\\d+\\.\\d+\\.\\d+$': '1.0.0',
  '^agent:[a-z]+:[a-z]+$': 'agent:main:main',
};

function load(file: string): Schema {
  return JSON.parse(readFileSync(file, 'utf8')) as Schema;
}

function deref(ref: string, file: string): { schema: Schema; file: string } {
  const [path, pointer] = ref.split('#');
  const target = path ? resolve(dirname(file), path) : file;
  let node: unknown = load(target);
  for (const part of (pointer ?? '').split('/').filter(Boolean)) node = (node as Schema)[part];
  return { schema: node as Schema, file: target };
}

function sample(schema: Schema, file: string): unknown {
  if (typeof schema.$ref === 'string') {
    const r = deref(schema.$ref, file);
    const base = sample(r.schema, r.file);
    const { $ref: _, ...rest } = schema;
    return Object.keys(rest).some((k) => k === 'properties' || k === 'allOf')
      ? merge(base, sample(rest, file))
      : base;
  }
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  let out: unknown;
  if (Array.isArray(schema.allOf))
    for (const s of schema.allOf as Schema[]) out = merge(out, sample(s, file));
  if (Array.isArray(schema.anyOf)) out = merge(out, sample((schema.anyOf as Schema[])[0]!, file));
  if (Array.isArray(schema.oneOf)) out = merge(out, sample((schema.oneOf as Schema[])[0]!, file));
  const type = Array.isArray(schema.type) ? (schema.type as string[]).find((t) => t !== 'null') : schema.type;
  switch (type) {
    case 'object': {
      const obj: Record<string, unknown> = {};
      const props = (schema.properties ?? {}) as Record<string, Schema>;
      for (const name of (schema.required ?? []) as string[]) {
        if (props[name]) obj[name] = sample(props[name], file);
      }
      return merge(out, obj);
    }
    case 'string': {
      if (schema.format === 'uuid') return randomUUID();
      if (schema.format === 'date-time') return new Date().toISOString();
      if (schema.format === 'uri') return 'https://example.com/artifact';
      if (typeof schema.pattern === 'string') {
        const s = PATTERN_SAMPLES[schema.pattern];
        assert.ok(s, `no sample for pattern ${schema.pattern}`);
        return s;
      }
      return 's'.repeat(Math.max(1, Number(schema.minLength ?? 1)));
    }
    case 'integer':
    case 'number':
      return Number(schema.minimum ?? 0);
    case 'boolean':
      return true;
    case 'array':
      return Array.from({ length: Number(schema.minItems ?? 1) }, () =>
        sample((schema.items ?? {}) as Schema, file),
      );
    case 'null':
      return null;
    default:
      return out ?? {};
  }
}

function merge(a: unknown, b: unknown): unknown {
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a)) {
    const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
    for (const [k, v] of Object.entries(b as Record<string, unknown>))
      out[k] = k in out ? merge(out[k], v) : v;
    return out;
  }
  return b ?? a;
}

const registry = await loadSchemaTree(FIXTURE_TREE);
const schemas = registry.list();

for (const backend of backends) {
  describe(`every holyfields-v1 schema through the gateway (${backend.name})`, () => {
    test(`${schemas.length} event types: one valid event published, one broken event refused`, {
      timeout: 60_000,
    }, async () => {
      assert.ok(schemas.length >= 30, `only ${schemas.length} schemas loaded`);
      const h = await harness(backend, { schemasDir: FIXTURE_TREE });
      try {
        const sent: string[] = [];
        for (const info of schemas) {
          const event = sample(info.schema, join(FIXTURE_TREE, info.file)) as Record<string, unknown>;
          event.event_type = info.eventType;
          const ok = await h.post('/events', event);
          assert.equal(ok.status, 202, `${info.eventType}: ${await ok.clone().text()}`);
          sent.push(info.eventType);

          const payload = { ...(event.payload as Record<string, unknown>) };
          const required = ((info.schema.properties as Schema).payload as Schema).required as string[];
          const missing = required[0]!;
          delete payload[missing];
          const bad = await h.post('/events', { ...event, event_id: randomUUID(), payload });
          const doc = (await bad.json()) as { code: string; errors: { pointer: string }[] };
          assert.equal(bad.status, 422, info.eventType);
          assert.equal(doc.code, 'SCHEMA_VIOLATION');
          assert.ok(
            doc.errors.some((e) => e.pointer === `/payload/${missing}` || e.pointer === '/payload'),
            `${info.eventType}: ${JSON.stringify(doc.errors)}`,
          );
        }
        const got = await h.readBack.take(sent.length, 15_000);
        assert.deepEqual(
          got.map((d) => json(d).event_type),
          sent,
        );
        assert.equal(await h.readBack.settle(), sent.length);
      } finally {
        await h.close();
      }
    });
  });
}
