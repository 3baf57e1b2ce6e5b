// The durable embedded broker (issue 22), each figure beside a reference from the same run:
// 1. the embedded all-in-one, HTTP publish → committed row, durable broker vs `memory`
//    (target ≥ 0.7);
// 2. its peak RSS under that load (target ≤ 400 MB), beside the `memory` run's;
// 3. a broker reopened with 100,000 messages queued: time to its first delivery (target ≤ 5 s),
//    beside the same reopen with an empty journal.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEmbeddedTransport, openEmbeddedBroker } from '@33god/bloodbank';
import { EVENT_TYPE, hammer, storedViaApi } from './e2e/load.js';
import { baseEnv, RssSampler, startChild, stopChild, waitFor } from './e2e/procs.js';
import { type BenchContext, type BenchResult, type BenchSuite, result } from './types.js';

interface StackRun {
  eventsPerSecond: number;
  peakRssMb: number;
}

/** The all-in-one in a child process with `storage`: events/s end to end and peak RSS. */
async function stackRun(ctx: BenchContext, storage: 'durable' | 'memory', dir: string): Promise<StackRun> {
  const env = baseEnv({ STACK_DATA_DIR: dir, BLOODBANK_EMBEDDED_STORAGE: storage });
  const start = () =>
    startChild(`all-in-one (${storage})`, 'stack.mjs', [], env, /@@STACK (\{.*\})\n/, 120_000);
  // The first start creates the database; the measured one runs on the existing directory.
  await stopChild(await start());
  const child = await start();
  try {
    const urls = JSON.parse(child.url) as { gateway: string; store: string; mode: { brokerStorage: string } };
    if (urls.mode.brokerStorage !== storage) throw new Error(`started ${JSON.stringify(urls.mode)}`);
    const warm = await hammer(urls.gateway, { amount: 500 });
    await waitFor('warm-up rows', 60_000, async () =>
      (await storedViaApi(urls.store)) >= warm.accepted ? true : undefined,
    );
    const sampler = new RssSampler({ stack: child.pid });
    const t0 = performance.now();
    const load = await hammer(urls.gateway, { seconds: Math.max(3, Math.round(15 * ctx.scale)) });
    const target = warm.accepted + load.accepted;
    await waitFor(
      'every accepted event committed',
      180_000,
      async () => ((await storedViaApi(urls.store)) >= target ? true : undefined),
      250,
    );
    const seconds = (performance.now() - t0) / 1000;
    const peaks = sampler.stop();
    const eventsPerSecond = load.accepted / seconds;
    ctx.log(
      `${storage}: ${load.accepted} accepted (${load.failed} failed), all committed after ${seconds.toFixed(1)} s: ${eventsPerSecond.toFixed(0)} events/s end to end; peak RSS ${peaks.stack!.toFixed(0)} MB`,
    );
    return { eventsPerSecond, peakRssMb: peaks.stack! };
  } finally {
    await stopChild(child);
  }
}

/** A durable journal in `dir` holding `n` queued messages of a gateway-sized body. */
async function fillJournal(dir: string, n: number): Promise<void> {
  const body = Buffer.from(JSON.stringify({ event_type: EVENT_TYPE, payload: { message: 'x'.repeat(300) } }));
  const broker = await openEmbeddedBroker({ storage: 'durable', dataDir: dir });
  const t = createEmbeddedTransport({ broker });
  await t.assertQueue('bench.backlog', { durable: true });
  for (let i = 0; i < n; i += 256) {
    const batch: Promise<void>[] = [];
    for (let j = i; j < Math.min(n, i + 256); j++) {
      batch.push(
        t.publish({ exchange: '', routingKey: 'bench.backlog', body, properties: { persistent: true } }),
      );
    }
    await Promise.all(batch);
  }
  await t.close();
  await broker.close();
}

/** Milliseconds from opening a durable broker on `dir` to the first delivery of `queue`. */
async function reopenToFirstDelivery(dir: string, queue: string): Promise<number> {
  const t0 = performance.now();
  const broker = await openEmbeddedBroker({ storage: 'durable', dataDir: dir });
  const t = createEmbeddedTransport({ broker });
  await t.assertQueue(queue, { durable: true });
  let first = 0;
  await new Promise<void>((resolve) => {
    void t.consume(queue, (d) => {
      if (first === 0) {
        first = performance.now() - t0;
        resolve();
      }
      d.nack({ requeue: true });
    });
  });
  await t.close({ drainTimeoutMs: 0 });
  await broker.close();
  return first;
}

export const suite: BenchSuite = async (ctx: BenchContext): Promise<BenchResult[]> => {
  const tmp = mkdtempSync(join(tmpdir(), 'bench-durable-'));
  try {
    // Interleaved, so that both modes see the same machine: memory, durable, memory, durable.
    const runs: Record<'durable' | 'memory', StackRun[]> = { durable: [], memory: [] };
    for (let round = 0; round < 2; round++) {
      for (const storage of ['memory', 'durable'] as const) {
        runs[storage].push(await stackRun(ctx, storage, join(tmp, `${storage}-${round}`)));
      }
    }
    const best = (rs: StackRun[]) => Math.max(...rs.map((r) => r.eventsPerSecond));
    const peak = (rs: StackRun[]) => Math.max(...rs.map((r) => r.peakRssMb));

    // 3: 100,000 messages of a gateway-sized body queued, the broker closed, then reopened;
    // the reference is the same reopen with one message queued.
    const n = Math.max(10_000, Math.round(100_000 * ctx.scale));
    const full = join(tmp, 'journal-full');
    const empty = join(tmp, 'journal-empty');
    await fillJournal(full, n);
    await fillJournal(empty, 1);
    await reopenToFirstDelivery(empty, 'bench.backlog'); // warm-up: module loading
    const emptyMs = await reopenToFirstDelivery(empty, 'bench.backlog');
    const fullMs = await reopenToFirstDelivery(full, 'bench.backlog');
    ctx.log(
      `reopen to first delivery: ${fullMs.toFixed(0)} ms with ${n} queued, ${emptyMs.toFixed(1)} ms empty`,
    );

    return [
      result(
        'embedded all-in-one, HTTP publish → committed row, durable broker (events/s), target ≥ 0.7',
        best(runs.durable),
        'events/s',
        'the same with BLOODBANK_EMBEDDED_STORAGE=memory',
        best(runs.memory),
      ),
      result(
        'embedded all-in-one peak RSS under that load, durable broker (MB), target ≤ 400 MB',
        peak(runs.durable),
        'MB',
        'the same with BLOODBANK_EMBEDDED_STORAGE=memory',
        peak(runs.memory),
      ),
      result(
        `durable broker reopened with ${n} messages queued: ms to first delivery (lower is better), target ≤ 5000 ms`,
        fullMs,
        'ms',
        'the same with one message queued',
        emptyMs,
      ),
    ];
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
};
