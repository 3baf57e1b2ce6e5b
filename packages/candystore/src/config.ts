import { resolve } from 'node:path';
import { envVar, parse, projectRoot } from '@33god/core';

/** Candystore's environment variables (shared ones: AMQP_URL, DATABASE_URL, LOG_LEVEL in core). */

export const CANDYSTORE_PORT = envVar({
  name: 'CANDYSTORE_PORT',
  doc: 'HTTP port of the Candystore API.',
  default: '8080',
  parse: parse.port,
});

export const CANDYSTORE_HOST = envVar({
  name: 'CANDYSTORE_HOST',
  doc: 'Address the Candystore API listens on. Loopback by default; any other address (`0.0.0.0`: every interface) needs AUTH_TOKENS or AUTH_TOKENS_FILE, or ALLOW_UNAUTHENTICATED=true.',
  default: '127.0.0.1',
  parse: parse.string,
});

export const CANDYSTORE_DATA_DIR = envVar({
  name: 'CANDYSTORE_DATA_DIR',
  doc: 'Embedded PostgreSQL (PGlite) data directory, used when DATABASE_URL is unset.',
  parse: parse.string,
});

/** `.data/candystore` at the repository root. */
export function defaultDataDir(): string {
  return resolve(projectRoot(), '.data', 'candystore');
}

export const CANDYSTORE_QUEUE = envVar({
  name: 'CANDYSTORE_QUEUE',
  doc: 'Durable ingest queue; invalid messages go to <queue>.dlq.',
  default: 'candystore.events',
  parse: parse.string,
});

export const CANDYSTORE_BATCH_SIZE = envVar({
  name: 'CANDYSTORE_BATCH_SIZE',
  doc: 'Most events per insert transaction (also the consumer prefetch).',
  default: '500',
  parse: parse.int(1, 10_000),
});

export const CANDYSTORE_BATCH_MAX_WAIT_MS = envVar({
  name: 'CANDYSTORE_BATCH_MAX_WAIT_MS',
  doc: 'Longest an event that arrives while no commit is running waits for others to join its batch (events that arrive during a commit join the next one at once).',
  default: '5',
  parse: parse.int(0, 60_000),
});

export const CANDYSTORE_REPLAY_LEASE_MS = envVar({
  name: 'CANDYSTORE_REPLAY_LEASE_MS',
  doc: 'How long a replay stays with the instance running it without a progress write (one every 250 ms): the replays of an instance that died are resumed by another this long after it stopped.',
  default: '15000',
  parse: parse.int(1000, 3_600_000),
});

export const CANDYSTORE_REPLAY_MAX_RUNNING = envVar({
  name: 'CANDYSTORE_REPLAY_MAX_RUNNING',
  doc: 'Most replays running at once, counted in the replays table (so across every instance on one database); POST /replays beyond it answers 409.',
  default: '4',
  parse: parse.int(1, 1000),
});

export const CANDYSTORE_STREAM_MAX_PER_CLIENT = envVar({
  name: 'CANDYSTORE_STREAM_MAX_PER_CLIENT',
  doc: 'Most live-stream sockets (/stream) one client holds at once: one principal, or one address without auth. More are refused with 429 before the upgrade.',
  default: '16',
  parse: parse.int(1, 100_000),
});

export const CANDYSTORE_STREAM_MAX = envVar({
  name: 'CANDYSTORE_STREAM_MAX',
  doc: 'Most live-stream sockets the store serves at once, all clients together; more are refused with 429 before the upgrade.',
  default: '256',
  parse: parse.int(1, 1_000_000),
});

export const CANDYSTORE_RETENTION_DAYS = envVar({
  name: 'CANDYSTORE_RETENTION_DAYS',
  doc: 'Drop monthly partitions whose every event is older than this many days, and the replays that finished before then. Unset: keep everything.',
  parse: parse.int(1, 365_000),
});

export const CANDYSTORE_INGEST_PAUSED = envVar({
  name: 'CANDYSTORE_INGEST_PAUSED',
  doc: 'Declare the ingest queue but take nothing from it: events wait in the broker until the store starts without it (maintenance; the fault tests use it to build a backlog). `/health` says so.',
  default: 'false',
  parse: parse.bool,
});

export const CANDYSTORE_PUBLISH_PERSISTED = envVar({
  name: 'CANDYSTORE_PUBLISH_PERSISTED',
  doc: 'Publish one candystore.event.persisted summary per committed batch.',
  default: 'true',
  parse: parse.bool,
});
