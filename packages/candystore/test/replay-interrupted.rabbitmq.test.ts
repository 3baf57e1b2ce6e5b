// A replay whose broker connection drops mid-way is not failed: it is released with its
// progress and resumed, by the same instance, once the transport has reconnected.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createRabbitMqTransport, type Transport } from '@33god/bloodbank';
import { type RunningCandystore, startCandystore } from '../src/index.js';
import {
  assertResumedInOrder,
  brokerConnection,
  drainQueue,
  envelope,
  freshDatabase,
  json,
  newEvent,
  registryWith,
  rid,
  startReplay,
  TEST_AMQP_URL,
  waitFor,
} from './helpers.js';

let db: { url: string; drop(): Promise<void> };
let observer: Transport;
let serviceTransport: Transport;
let svc: RunningCandystore;
const connectionName = `candystore-replay-test-${rid()}`;
const queue = `test.${rid()}.replay-target`;

before(async () => {
  db = await freshDatabase();
  observer = await createRabbitMqTransport({ url: TEST_AMQP_URL });
  await observer.assertQueue(queue, { durable: false });
  serviceTransport = await createRabbitMqTransport({ url: TEST_AMQP_URL, connectionName });
  svc = await startCandystore({
    databaseUrl: db.url,
    transport: serviceTransport,
    ingest: false,
    port: 0,
    host: '127.0.0.1',
    logLevel: 'silent',
    registry: registryWith([queue]),
  });
});

after(async () => {
  await svc?.close();
  await serviceTransport?.close();
  await observer?.deleteQueue(queue).catch(() => {});
  await observer?.close();
  await db?.drop();
});

test('the broker connection drops during a replay: it resumes after reconnecting and completes; nothing missing, in order', {
  timeout: 60_000,
}, async () => {
  const kind = `test.interrupted${rid()}.happened`;
  const events = Array.from({ length: 400 }, (_, i) => envelope(kind, { i }));
  await svc.store.append(events.map(newEvent));
  const want = events.map((e) => e.event_id);
  // looked up before the replay starts: the management API may list it only seconds later
  const connection = await brokerConnection(connectionName);
  // 400 events at 50/s: the drop comes about 7 s before the replay could end
  const id = await startReplay(svc.url, { filter: { type: kind }, target: { queue }, rate_per_second: 50 });
  const info = async () => json(await fetch(`${svc.url}/replays/${id}`));

  await waitFor(async () => (await info()).published >= 40, 15_000, 'progress before the drop');
  await connection.close();
  assert.equal((await info()).status, 'running', 'the drop comes while the replay runs');
  // the drop is seen by the transport and the replay is released, not failed
  await waitFor(() => serviceTransport.state !== 'connected', 10_000, 'the transport to see the drop');
  const statuses = new Set<string>();
  await waitFor(
    async () => {
      const s = await info();
      statuses.add(s.status);
      return s.status !== 'running';
    },
    40_000,
    'the replay to end',
  );
  const end = await info();
  assert.equal(end.status, 'completed', JSON.stringify(end));
  assert.deepEqual([...statuses].sort(), ['completed', 'running'], 'running, then completed, never failed');
  assert.equal(end.total, want.length);
  assert.equal(end.published, want.length);
  assert.equal(end.error, undefined);

  const got = (await drainQueue(observer, queue, want.length)).map((d) => {
    assert.equal(d.properties.headers?.['x-replay-id'], id);
    return JSON.parse(d.body.toString()).event_id as string;
  });
  // where the second run started: the first id that does not follow its predecessor
  const restart = got.findIndex((eid, i) => i > 0 && want.indexOf(eid) !== want.indexOf(got[i - 1]!) + 1);
  const resumedAt = restart === -1 ? got.length : want.indexOf(got[restart]!);
  assert.ok(resumedAt >= 40 || restart === -1, `resumed after ${resumedAt}`);
  assertResumedInOrder(got, want, resumedAt);
});
