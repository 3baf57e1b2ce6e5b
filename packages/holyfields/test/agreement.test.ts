import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import type { ZodType } from 'zod';
import { buildModel, type EventModel, type Model } from '../src/generate/ir.js';
import { loadSchemaTree, type SchemaRegistry } from '../src/index.js';
import {
  FIXTURE_TREE,
  generateInto,
  OWN_TREE,
  type PyCase,
  runPython,
  tempDir,
} from './support/generated.js';
import { arbitraryFor, mutations } from './support/sample.js';

const VALID_PER_TYPE = 12;
const INVALID_PER_TYPE = 16;

interface Case {
  label: string;
  value: unknown;
  /** What Ajv says (the oracle). */
  ajv: boolean;
  zodName: string;
  pyModel: string;
}

/** For one event schema: the probe type to ask the registry with, and which generated names validate it. */
function targets(e: EventModel): { type: string; zod: string; py: string; whole: boolean } {
  const type =
    e.pattern !== undefined ? e.pattern.replaceAll('#', 'probe').replaceAll('*', 'probe') : e.types[0]!;
  const whole = e.kind === 'envelope';
  return { type, zod: whole ? e.event : e.payload, py: whole ? e.event : e.payload, whole };
}

function buildCases(registry: SchemaRegistry, model: Model): Case[] {
  const cases: Case[] = [];
  for (const e of model.events) {
    const t = targets(e);
    const def = model.defs.find((d) => d.name === t.zod)!;
    const samples = fc.sample(arbitraryFor(def.type, model), { numRuns: VALID_PER_TYPE, seed: 20260115 });
    for (const [i, s] of samples.entries()) {
      const r = registry.validateSchema(t.type, s, e.version);
      assert.ok(r.known, `${t.type} is known`);
      assert.ok(
        r.ok,
        `sample ${i} of ${t.type} must satisfy Ajv: ${JSON.stringify(r.violations)}\n${JSON.stringify(s)}`,
      );
      cases.push({ label: `${t.type} valid #${i}`, value: s, ajv: true, zodName: t.zod, pyModel: t.py });
    }
    const invalid: unknown[] = [];
    const rnd = fc.sample(fc.integer({ min: 0, max: 1_000_000 }), { numRuns: 64, seed: 7 });
    let k = 0;
    for (const s of samples) {
      const ms = mutations(s).filter((m) => !registry.validateSchema(t.type, m, e.version).ok);
      // A deterministic spread over the candidates rather than the first few paths only.
      for (let j = 0; j < 3 && ms.length > 0; j++) invalid.push(ms[(rnd[k++ % rnd.length] ?? 0) % ms.length]);
      if (invalid.length >= INVALID_PER_TYPE) break;
    }
    assert.ok(invalid.length > 0, `${t.type}: mutations produced invalid instances`);
    for (const [i, v] of invalid.entries()) {
      cases.push({ label: `${t.type} invalid #${i}`, value: v, ajv: false, zodName: t.zod, pyModel: t.py });
    }
  }
  return cases;
}

for (const [name, dir, pkg] of [
  ['fixture tree (holyfields-v1)', FIXTURE_TREE, 'fixture_events'],
  ["the project's schemas/", OWN_TREE, 'own_events'],
] as const) {
  describe(`Ajv, generated Zod and generated Pydantic agree: ${name}`, { timeout: 240_000 }, () => {
    const tmp = tempDir('agree');
    let registry: SchemaRegistry;
    let model: Model;
    let zodModule: Record<string, ZodType>;
    let cases: Case[];
    let python: boolean[];

    before(async () => {
      registry = await loadSchemaTree(dir);
      model = buildModel(registry);
      await generateInto(registry, tmp.dir, pkg);
      zodModule = (await import(pathToFileURL(join(tmp.dir, 'ts', 'events.ts')).href)) as Record<
        string,
        ZodType
      >;
      cases = buildCases(registry, model);
      python = runPython(
        join(tmp.dir, 'python'),
        pkg,
        cases.map((c): PyCase => ({ model: c.pyModel, json: JSON.stringify(c.value) })),
      );
    });
    after(() => tmp.cleanup());

    test('every event type has valid and invalid cases', () => {
      const types = new Set(cases.map((c) => c.label.split(' ')[0]));
      assert.equal(types.size, model.events.length);
      assert.ok(cases.some((c) => !c.ajv));
    });

    test('generated Zod agrees with Ajv on every case', () => {
      const disagreements: string[] = [];
      for (const c of cases) {
        const schema = zodModule[c.zodName];
        assert.ok(schema, `generated module exports ${c.zodName}`);
        const zod = schema.safeParse(c.value).success;
        if (zod !== c.ajv)
          disagreements.push(`${c.label}: ajv=${c.ajv} zod=${zod} ${JSON.stringify(c.value)}`);
      }
      assert.deepEqual(disagreements, []);
    });

    test('generated Pydantic agrees with Ajv on every case', () => {
      assert.equal(python.length, cases.length);
      const disagreements: string[] = [];
      cases.forEach((c, i) => {
        if (python[i] !== c.ajv)
          disagreements.push(`${c.label}: ajv=${c.ajv} pydantic=${python[i]} ${JSON.stringify(c.value)}`);
      });
      assert.deepEqual(disagreements, []);
    });
  });
}
