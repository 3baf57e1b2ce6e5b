// The one public entry of @33god/candystore. Every export is named.
export {
  CANDYSTORE_BATCH_MAX_WAIT_MS,
  CANDYSTORE_BATCH_SIZE,
  CANDYSTORE_DATA_DIR,
  CANDYSTORE_HOST,
  CANDYSTORE_PORT,
  CANDYSTORE_PUBLISH_PERSISTED,
  CANDYSTORE_QUEUE,
  CANDYSTORE_REPLAY_LEASE_MS,
  CANDYSTORE_REPLAY_MAX_RUNNING,
  CANDYSTORE_RETENTION_DAYS,
  CANDYSTORE_STREAM_MAX,
  CANDYSTORE_STREAM_MAX_PER_CLIENT,
  defaultDataDir,
} from './config.js';
export type { HealthReport } from './http/context.js';
export { PERSISTED_EVENT_TYPE } from './ingest/ingester.js';
export type { ChainNode, CorrelationGap } from './query/correlation-tree.js';
export type { ReplayInfo, ReplayStatus, ReplayTarget } from './replay/replayer.js';
export {
  type CandystoreOptions,
  optionsFromEnv,
  type RunningCandystore,
  startCandystore,
} from './service.js';
export type { Database } from './storage/database.js';
export { EventStore } from './storage/event-store.js';
export { migrate } from './storage/migrations.js';
export { openStore, type StoreOptions } from './storage/open.js';
export type { EventFilter, StatsBucket, StoredEvent } from './storage/types.js';
export type { StreamMessage } from './stream/session.js';
export { CLOSE_SLOW_CLIENT } from './stream/session.js';
