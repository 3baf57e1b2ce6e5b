import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The store's Prometheus metrics, in a registry of their own (several stores can share a process). */
export class StoreMetrics {
  readonly registry = new Registry();
  readonly eventsStored = new Counter({
    name: 'candystore_events_stored_total',
    help: 'Events committed to the store (rate() of it is the ingest rate).',
    registers: [this.registry],
  });
  readonly duplicates = new Counter({
    name: 'candystore_events_duplicate_total',
    help: 'Deliveries whose event_id was already stored (redeliveries, replays).',
    registers: [this.registry],
  });
  readonly deadLettered = new Counter({
    name: 'candystore_events_dead_lettered_total',
    help: 'Messages sent to the dead letters (not a valid envelope, or not storable).',
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'candystore_batch_size',
    help: 'Events per committed batch.',
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2000],
    registers: [this.registry],
  });
  readonly insertSeconds = new Histogram({
    name: 'candystore_insert_duration_seconds',
    help: 'Time to commit one batch.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly insertFailures = new Counter({
    name: 'candystore_insert_failures_total',
    help: 'Batch commits that failed (retried or split, see candystore_insert_retries_total).',
    registers: [this.registry],
  });
  readonly insertRetries = new Counter({
    name: 'candystore_insert_retries_total',
    help: 'Batch commits that failed for the database, not the events, and were retried (batch held, unacked).',
    registers: [this.registry],
  });
  readonly heldBatch = new Gauge({
    name: 'candystore_ingest_held',
    help: '1 while a batch is held because the database refuses writes (outage, disk full, read-only), else 0.',
    registers: [this.registry],
  });
  readonly heldSince = new Gauge({
    name: 'candystore_ingest_held_since_timestamp_seconds',
    help: 'When the database started refusing the held batch (unix seconds); 0 when none is held.',
    registers: [this.registry],
  });
  readonly lag = new Gauge({
    name: 'candystore_ingest_lag_messages',
    help: 'Messages waiting in the ingest queue (measured at scrape time).',
    registers: [this.registry],
  });
  readonly lastCommit = new Gauge({
    name: 'candystore_last_commit_timestamp_seconds',
    help: 'When the last batch committed (unix seconds).',
    registers: [this.registry],
  });
  readonly streamClients = new Gauge({
    name: 'candystore_stream_clients',
    help: 'Open /stream WebSocket clients.',
    registers: [this.registry],
  });
  readonly replayed = new Counter({
    name: 'candystore_replayed_events_total',
    help: 'Events published by replays.',
    registers: [this.registry],
  });
}
