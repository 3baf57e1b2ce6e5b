// Holyfields: envelope validation through SchemaRegistry.validate beside raw Ajv compiled on the
// same schemas (ratio, target >= 0.9), and `generate` for the whole fixture tree beside merely
// loading and compiling that tree.
import { resolve } from 'node:path';
import { generateFiles, loadSchemaTree, type SchemaRegistry } from '@33god/holyfields';
import { createAjv, readSchemaTree } from '@33god/holyfields/internal';
import { type BenchContext, type BenchResult, result } from './types.js';

const ROOT = resolve(import.meta.dirname, '..');
const FIXTURE_TREE = resolve(ROOT, '../shared/fixtures/holyfields-v1');

const EVENT = {
  event_id: '01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9e0f',
  event_type: 'agent.task.completed',
  timestamp: '2026-01-15T10:30:00.000Z',
  version: '1.0.0',
  source: { app: 'agent-runner', host: 'worker-3', trigger_type: 'event' },
  correlation_id: '01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9e0f',
  causation_id: null,
  payload: {
    task_id: 'T-1042',
    agent_name: 'cack',
    status: 'succeeded',
    summary: 'Added retries to the publisher.',
    duration_ms: 183000,
    artifacts: ['https://git.example.com/33god/bloodbank/pull/42'],
  },
};

/** Raw Ajv on the same schema files: the envelope validator, then the payload validator. */
async function rawAjv(dir: string): Promise<(e: typeof EVENT) => boolean> {
  const tree = await readSchemaTree(dir);
  const ajv = createAjv();
  for (const f of tree.sortedFiles()) ajv.addSchema(f.json);
  const env = ajv.getSchema('https://33god.dev/schemas/_common/envelope.v1.json')!;
  const payload = ajv.getSchema('https://33god.dev/schemas/agent/task.completed.v1.json')!;
  return (e) => Boolean(env(e)) && Boolean(payload(e.payload));
}

function rate(n: number, fn: () => void): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function ms(fn: () => unknown): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export const suite = async (ctx: BenchContext): Promise<BenchResult[]> => {
  const dir = resolve(ROOT, 'schemas');
  const registry: SchemaRegistry = await loadSchemaTree(dir);
  const raw = await rawAjv(dir);
  if (!registry.validate(EVENT).ok || !raw(EVENT)) throw new Error('the bench event must be valid');
  const n = Math.max(10_000, Math.round(300_000 * ctx.scale));
  let sink = 0;
  const ours_ = () => {
    if (registry.validate(EVENT).ok) sink++;
  };
  const raw_ = () => {
    if (raw(EVENT)) sink++;
  };
  // Warm both paths, then many short interleaved rounds in alternating order and the median of
  // each, so neither side profits from a quiet moment of the (shared) machine.
  rate(n, ours_);
  rate(n, raw_);
  const chunk = Math.max(2_000, Math.round(n / 5));
  const oursRates: number[] = [];
  const refRates: number[] = [];
  for (let r = 0; r < 15; r++) {
    if (r % 2 === 0) {
      oursRates.push(rate(chunk, ours_));
      refRates.push(rate(chunk, raw_));
    } else {
      refRates.push(rate(chunk, raw_));
      oursRates.push(rate(chunk, ours_));
    }
  }
  const ours = median(oursRates);
  const ref = median(refRates);
  ctx.log(`validate: ${Math.round(ours)} events/s, raw Ajv ${Math.round(ref)} events/s (${sink} checks)`);

  const loadMs = Math.min(
    await ms(() => loadSchemaTree(FIXTURE_TREE)),
    await ms(() => loadSchemaTree(FIXTURE_TREE)),
  );
  const fixture = await loadSchemaTree(FIXTURE_TREE);
  const genMs = Math.min(
    await ms(() => generateFiles(fixture, ['ts', 'python'])),
    await ms(() => generateFiles(fixture, ['ts', 'python'])),
  );
  ctx.log(
    `generate (ts+python, ${fixture.size} types): ${genMs.toFixed(1)} ms; load+compile ${loadMs.toFixed(1)} ms`,
  );
  return [
    result(
      'holyfields validate envelope+payload (events/s, one core)',
      ours,
      'events/s',
      'raw Ajv, same schemas',
      ref,
    ),
    result(
      'holyfields generate ts+python, fixture tree (ms, lower is better)',
      genMs,
      'ms',
      'load and compile the fixture tree',
      loadMs,
    ),
  ];
};
