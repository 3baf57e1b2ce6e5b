import { AppError } from '@33god/core';
import { EmbeddedBroker } from './broker.js';
import type { JournalCompactionOptions } from './journal-compaction.js';
import type { EmbeddedBrokerLimits } from './limits.js';
import { LmdbJournal } from './lmdb-journal.js';

/** `durable`: what the broker confirmed survives a crash (a journal on disk); `memory`: nothing does. */
export type EmbeddedStorage = 'durable' | 'memory';

export interface OpenEmbeddedBrokerOptions extends Partial<EmbeddedBrokerLimits> {
  storage: EmbeddedStorage;
  /** Where a durable broker keeps its journal (a directory of its own). */
  dataDir?: string;
  /**
   * When opening a durable journal first rewrites it to give free pages back to the file
   * system: a file of at least `minFileBytes` (64 MiB) with less than `maxLiveRatio` (25 %) in
   * use. `false`: never. What happened is on `broker.journal.compaction`.
   */
  compaction?: Partial<JournalCompactionOptions> | false;
}

/**
 * A broker for an embedded deployment (`npm start`). `durable` opens (or creates) the journal
 * in `dataDir` and brings back everything it holds: exchanges, queues, bindings, every
 * confirmed message not yet acked (those handed out before marked redelivered), retry tiers
 * with their due times and dead letters. A journal file left large and mostly free by a drained
 * backlog is compacted before it is read (`broker.journal.compaction` says so, to be logged).
 * Close it with `broker.close()` after its transports.
 */
export async function openEmbeddedBroker(options: OpenEmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const { storage, dataDir, compaction, ...limits } = options;
  if (storage === 'memory') return new EmbeddedBroker(limits);
  if (!dataDir) {
    throw new AppError('CONFIG_INVALID', 'a durable embedded broker needs a data directory');
  }
  const journal = await LmdbJournal.open(dataDir, compaction === undefined ? {} : { compaction });
  try {
    const broker = new EmbeddedBroker({ ...limits, journal });
    broker.restore(journal.read());
    return broker;
  } catch (err) {
    await journal.close().catch(() => {});
    if (err instanceof AppError) throw err;
    throw new AppError(
      'CONFIG_INVALID',
      `cannot read the embedded broker's journal in ${dataDir}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}
