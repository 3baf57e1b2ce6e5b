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
 * Socket options of every raw amqplib client a figure is compared with: the same as the
 * project's transport sets (Nagle's algorithm off), so a reference is the raw client at its
 * best, not one held back by a socket default.
 */
export const RAW_AMQP_SOCKET = { noDelay: true } as const;

/**
 * The V8 flags every service process runs with (`npm start` and `deploy/compose.yaml` set
 * the same): a 4 MB semi-space (V8's default is 16 MB), collected on the main thread.
 * On this two-core machine, where the gateway shares the cores with RabbitMQ and the load,
 * parallel scavenges wait for helper threads that get no core. In interleaved A/B rounds of
 * 6 s at 64 connections (2026-12-04), `--single-threaded-gc` lowered the gateway's CPU per
 * request from 1.35 to 1.26 × RabbitMQ's CPU per message (mean; 1.18-1.43 per round), RSS
 * 114-117 MB. An 8 MB semi-space saved a few % more CPU but peaked at 154-156 MB in the full
 * bench, over the gateway's 150 MB budget, so it was dropped.
 */
export const SERVICE_NODE_FLAGS = ['--max-semi-space-size=4', '--single-threaded-gc'] as const;

/**
 * The gateway's flags (`deploy/compose.yaml` gives `bloodbank serve` the same): the service
 * flags, and `--heap-growing-percent=20`, which caps how far V8 lets the old generation grow
 * past what the last full collection kept (V8 otherwise picks a factor of up to 4 for a small
 * heap). Under the gateway's load the request objects that outlive two scavenges pile up in
 * the old generation: without the cap it grew from 20 to 45-65 MB between full collections and
 * the gateway peaked at 124-153 MB; with it, at 96-98 MB, with the same rate and CPU per
 * request within the noise (alternating 8 s rounds, 2026-12-06). Only the gateway: the store,
 * whose ingest keeps up to four batches of parsed events alive, spent 38-54 µs of CPU per
 * ingested event with the cap against 25-35 without it in the same alternating probes.
 */
export const GATEWAY_NODE_FLAGS = [...SERVICE_NODE_FLAGS, '--heap-growing-percent=20'] as const;
