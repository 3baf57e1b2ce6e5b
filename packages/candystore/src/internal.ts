// For sibling packages and tests only; not a stable API.
export { buildApi } from './http/server.js';
export { parseEnvelope } from './ingest/envelope.js';
export { Ingester, persistedSummary } from './ingest/ingester.js';
export { buildCorrelationTree } from './query/correlation-tree.js';
export { decodeCursor, encodeCursor } from './query/cursor.js';
export { filterToSql, matchesFilter, patternToRegex } from './query/filters.js';
export { choosePayloadPlan, MAX_WINDOW, MIN_WINDOW, samplePercent } from './query/payload-plan.js';
export { PageWindow, Replayer } from './replay/replayer.js';
export { forbiddenTarget, type ReplayTargets, replayTargets } from './replay/targets.js';
export { openPglite } from './storage/adapters/pglite.js';
export { openPostgres } from './storage/adapters/postgres.js';
export { isTransientDbError } from './storage/database.js';
export { migrationFiles } from './storage/sql.js';
export { type StreamLimits, StreamSlots, streamClientKey } from './stream/limits.js';
export { eventBytes, StreamSession } from './stream/session.js';
export { StoreTail } from './stream/tail.js';
