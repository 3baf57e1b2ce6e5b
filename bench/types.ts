/** One figure of `npm run bench`, with the reference measured in the same run. */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  reference_name: string;
  reference_value: number;
  /** value / reference_value (for "lower is better" units the suite says so in the name). */
  ratio: number;
}

export interface BenchContext {
  amqpUrl: string;
  databaseUrl: string;
  /** Scale factor: 1 for the full run, smaller for a quick smoke run (`BENCH_QUICK=1`). */
  scale: number;
  log(line: string): void;
}

export type BenchSuite = (ctx: BenchContext) => Promise<BenchResult[]>;

export function result(
  name: string,
  value: number,
  unit: string,
  reference_name: string,
  reference_value: number,
): BenchResult {
  const ratio = reference_value === 0 ? 0 : value / reference_value;
  return { name, value, unit, reference_name, reference_value, ratio: Math.round(ratio * 1000) / 1000 };
}

/**
 * The V8 flags every service process runs with (`npm start` and `deploy/compose.yaml` set
 * the same): a 4 MB young generation instead of V8's 16 MB. Under the gateway's 64-connection
 * load it kept peak RSS at 138-142 MB instead of 165-168 MB, at the same request rate. Parts
 * and their references start with these flags alike.
 */
export const SERVICE_NODE_FLAGS = ['--max-semi-space-size=4'] as const;
