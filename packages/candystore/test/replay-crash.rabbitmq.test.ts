// Real RabbitMQ and PostgreSQL: the instance running a replay is a process of its own, killed
// with SIGKILL (no shutdown, no last progress write), so the broker must outlive it.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { createRabbitMqTransport } from '@33god/bloodbank';
import { openStore, startCandystore } from '../src/index.js';
import {
  assertResumedInOrder,
  drainQueue,
  envelope,
  freshDatabase,
  json,
  newEvent,
  recordingTransport,
  rid,
  startReplay,
  TEST_AMQP_URL,
  waitFor,
} from './helpers.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const LEASE_MS = 1_500;

/** Starts the fixture instance; resolves with it and its URL once it serves. */
async function spawnInstance(
  databaseUrl: string,
  replayTarget: string,
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      resolve(import.meta.dirname, 'fixtures/replay-instance.ts'),
      databaseUrl,
      TEST_AMQP_URL,
      String(LEASE_MS),
      replayTarget,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  const url = await new Promise<string>((ok, fail) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => ok(JSON.parse(line).url));
    child.once('exit', (code) => fail(new Error(`the instance exited (${code}) before serving: ${stderr}`)));
  });
  return { child, url };
}

test('a replay whose process was killed is resumed by another instance once its lease expires; nothing missing', {
  timeout: 120_000,
}, async (t) => {
  const db = await freshDatabase();
  const store = await openStore({ databaseUrl: db.url });
  const transport = await createRabbitMqTransport({ url: TEST_AMQP_URL });
  const q = `test.${rid()}.target`;
  let killed: { child: ChildProcess; url: string } | null = null;
  const svcTransport = await createRabbitMqTransport({ url: TEST_AMQP_URL });
  const { transport: recording, record } = recordingTransport(svcTransport);
  let svc: Awaited<ReturnType<typeof startCandystore>> | null = null;
  try {
    await transport.assertQueue(q, { durable: false });
    const kind = `test.crash${rid()}.kind`;
    const events = Array.from({ length: 60 }, (_, i) => envelope(kind, { i }));
    await store.append(events.map(newEvent));
    const selected = events.map((e) => e.event_id);

    killed = await spawnInstance(db.url, q);
    const id = await startReplay(killed.url, {
      filter: { type: kind },
      target: { queue: q },
      rate_per_second: 25,
    });
    const url = killed.url;
    await waitFor(
      async () => (await json(await fetch(`${url}/replays/${id}`))).published >= 8,
      10_000,
      'progress',
    );
    const exited = new Promise((r) => killed!.child.once('exit', r));
    killed.child.kill('SIGKILL');
    await exited;

    const row = (await store.getReplay(id))!;
    const [lease] = await store.db.query<{ owner: string | null; expires: string }>(
      'SELECT owner, extract(epoch FROM lease_until) * 1000 AS expires FROM replays WHERE id = $1',
      [id],
    );
    assert.equal(row.status, 'running');
    assert.ok(lease?.owner, 'the dead process still holds the lease');
    const resumedAt = row.published;
    assert.ok(resumedAt >= 8 && resumedAt < selected.length);

    svc = await startCandystore({
      databaseUrl: db.url,
      transport: recording,
      ingest: false,
      port: 0,
      host: '127.0.0.1',
      logLevel: 'silent',
      replayLeaseMs: LEASE_MS,
    });
    const running = svc;
    await waitFor(
      async () => (await json(await fetch(`${running.url}/replays/${id}`))).status === 'completed',
      20_000,
      'completed by the new instance',
    );
    assert.ok(
      record.firstAt! >= Number(lease!.expires),
      `resumed ${Number(lease!.expires) - record.firstAt!} ms before the dead process's lease expired`,
    );
    assert.deepEqual(record.eventIds, selected.slice(resumedAt), 'resumed after the last recorded position');
    const got = await drainQueue(transport, q, selected.length);
    assert.ok(got.every((d) => d.properties.headers?.['x-replay-id'] === id));
    // the copies the dead process had published after its last progress write come twice
    t.diagnostic(`${got.length - selected.length} events delivered twice (resumed after ${resumedAt})`);
    assertResumedInOrder(
      got.map((d) => JSON.parse(d.body.toString()).event_id),
      selected,
      resumedAt,
    );
  } finally {
    if (killed && killed.child.exitCode === null && killed.child.signalCode === null)
      killed.child.kill('SIGKILL');
    await svc?.close();
    await svcTransport.close();
    await transport.deleteQueue(q).catch(() => {});
    await transport.close();
    await store.close();
    await db.drop();
  }
});
