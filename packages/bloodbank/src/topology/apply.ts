import type { Transport } from '../transport/transport.js';
import { type ResolvedTopologyOptions, resolveTopologyOptions, type TopologyOptions } from './options.js';
import {
  type PlannedBinding,
  planExchanges,
  planQueue,
  planTopology,
  type QueueSettings,
  type TopologyPlan,
} from './plan.js';
import type { TopologyRegistry } from './registry.js';

/** Declares a plan: exchanges first (an alternate exchange before the one naming it), then queues, then bindings. */
export async function applyPlan(transport: Transport, plan: TopologyPlan): Promise<void> {
  for (const ex of plan.exchanges) await transport.assertExchange(ex.name, ex.type, ex.options);
  for (const q of plan.queues) await transport.assertQueue(q.name, q.options);
  for (const b of plan.bindings) await transport.bindQueue(b.queue, b.exchange, b.pattern);
}

/**
 * Declares the bus's exchanges (events with its alternate exchange, unroutable,
 * dead letters) and the unroutable and monitor queues, leaving an exchange that
 * already exists as it is: RabbitMQ refuses a re-declaration whose arguments differ
 * (such as a missing alternate exchange), so every part that publishes or consumes
 * calls this instead of declaring the events exchange itself.
 */
export async function ensureExchanges(
  transport: Transport,
  options: TopologyOptions | ResolvedTopologyOptions = {},
): Promise<ResolvedTopologyOptions> {
  const resolved = resolveTopologyOptions(options);
  const plan = planExchanges(resolved);
  for (const ex of plan.exchanges) {
    if (!(await transport.checkExchange(ex.name)))
      await transport.assertExchange(ex.name, ex.type, ex.options);
  }
  for (const q of plan.queues) await transport.assertQueue(q.name, q.options);
  for (const b of plan.bindings) await transport.bindQueue(b.queue, b.exchange, b.pattern);
  return resolved;
}

/**
 * Declares one consumer's queue and its dead-letter queue the way the topology plans
 * them, leaving queues that already exist as they are (a queue declared by
 * `topology apply` with the registry's TTL or queue type must not be re-declared with
 * other arguments), and binds it. `retry: false` leaves out the retry-delay queues of
 * consumers that never retry through them.
 */
export async function ensureQueue(
  transport: Transport,
  queue: string,
  patterns: readonly string[],
  options: TopologyOptions | ResolvedTopologyOptions = {},
  settings: QueueSettings & { retry?: boolean } = {},
): Promise<void> {
  const plan = planQueue(queue, patterns, resolveTopologyOptions(options), settings);
  for (const q of plan.queues) {
    if (q.role === 'retry' && settings.retry === false) continue;
    if (!(await transport.checkQueue(q.name))) await transport.assertQueue(q.name, q.options);
  }
  for (const b of plan.bindings) await transport.bindQueue(b.queue, b.exchange, b.pattern);
}

export interface TopologySummary {
  readonly options: ResolvedTopologyOptions;
  readonly plan: TopologyPlan;
}

/** Declares everything the registry describes (idempotent: declaring twice changes nothing). */
export async function applyTopology(
  transport: Transport,
  registry: TopologyRegistry,
  options: TopologyOptions = {},
): Promise<TopologySummary> {
  const resolved = resolveTopologyOptions(options);
  const plan = planTopology(registry, resolved);
  await applyPlan(transport, plan);
  return { options: resolved, plan };
}

export interface TopologyReport {
  /** True when nothing is missing. */
  readonly ok: boolean;
  readonly missingExchanges: string[];
  readonly missingQueues: string[];
  readonly missingBindings: PlannedBinding[];
  /** False when the transport cannot list bindings: then only exchanges and queues were compared. */
  readonly bindingsChecked: boolean;
  readonly checked: { exchanges: number; queues: number; bindings: number };
}

/** Compares the live broker with the registry without declaring anything (passive checks only). */
export async function checkTopology(
  transport: Transport,
  registry: TopologyRegistry,
  options: TopologyOptions = {},
): Promise<TopologyReport> {
  return checkPlan(transport, planTopology(registry, resolveTopologyOptions(options)));
}

export async function checkPlan(transport: Transport, plan: TopologyPlan): Promise<TopologyReport> {
  const missingExchanges: string[] = [];
  for (const ex of plan.exchanges)
    if (!(await transport.checkExchange(ex.name))) missingExchanges.push(ex.name);
  const missingQueues: string[] = [];
  for (const q of plan.queues) if ((await transport.checkQueue(q.name)) === null) missingQueues.push(q.name);
  const missing = new Set(missingQueues);

  const missingBindings: PlannedBinding[] = [];
  const bindingsChecked = transport.features.listBindings;
  if (bindingsChecked) {
    const byQueue = new Map<string, PlannedBinding[]>();
    for (const b of plan.bindings) {
      const list = byQueue.get(b.queue);
      if (list) list.push(b);
      else byQueue.set(b.queue, [b]);
    }
    for (const [queue, wanted] of byQueue) {
      if (missing.has(queue)) {
        missingBindings.push(...wanted);
        continue;
      }
      const live = new Set(
        (await transport.listBindings(queue)).map((b) => `${b.exchange}\u0000${b.pattern}`),
      );
      for (const b of wanted) if (!live.has(`${b.exchange}\u0000${b.pattern}`)) missingBindings.push(b);
    }
  }
  return {
    ok: missingExchanges.length + missingQueues.length + missingBindings.length === 0,
    missingExchanges,
    missingQueues,
    missingBindings,
    bindingsChecked,
    checked: { exchanges: plan.exchanges.length, queues: plan.queues.length, bindings: plan.bindings.length },
  };
}

/** The report as lines for a terminal. */
export function formatTopologyReport(report: TopologyReport): string {
  const lines: string[] = [];
  const { checked } = report;
  if (report.ok) {
    lines.push(
      `topology ok: ${checked.exchanges} exchanges, ${checked.queues} queues, ${checked.bindings} bindings match the registry`,
    );
  } else {
    lines.push('topology drift: the broker is missing what the registry declares');
    for (const e of report.missingExchanges) lines.push(`  missing exchange  ${e}`);
    for (const q of report.missingQueues) lines.push(`  missing queue     ${q}`);
    for (const b of report.missingBindings) {
      lines.push(`  missing binding   ${b.exchange || '(default)'} -> ${b.queue}  key '${b.pattern}'`);
    }
    lines.push('run `bloodbank topology apply` to declare them');
  }
  if (!report.bindingsChecked)
    lines.push('note: this transport cannot list bindings; bindings were not compared');
  return lines.join('\n');
}
