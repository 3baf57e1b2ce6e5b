// Real PostgreSQL only: the database is restarted while events are being ingested.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { createEmbeddedTransport, EmbeddedBroker } from '@33god/bloodbank';
import { type EventEnvelope, envelopeAmqpProperties } from '@33god/core';
import pg from 'pg';
import { startCandystore } from '../src/index.js';
import { envelope, freshDatabase, rid, waitFor } from './helpers.js';

const cluster = readdirSync('/etc/postgresql')[0]!;
/**
 * pg_ctlcluster under the shared restart lock. `-o`: the lock's descriptor is closed before
 * running the command, so the server it starts does not inherit (and hold) the lock; no
 * pipes either, for the same reason.
 */
const pgctl = (action: string) =>
  new Promise<void>((resolve, reject) => {
    const child = spawn(
      'flock',
      [
        '-o',
        '/tmp/33god-restart.lock',
        'pg_ctlcluster',
        '--skip-systemctl-redirect',
        cluster,
        'main',
        action,
      ],
      { stdio: 'ignore' },
    );
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve();
      else if (code === 75)
        reject(new LockBusy('the restart lock stayed busy for 100 s (another helper); rerun'));
      else reject(new Error(`pg_ctlcluster ${action} exited with ${code}`));
    });
  });

class LockBusy extends Error {}

test('PostgreSQL restarted during ingest: nothing lost, nothing doubled', { timeout: 200_000 }, async () => {
  const db = await freshDatabase();
  const transport = createEmbeddedTransport({ broker: new EmbeddedBroker() });
  const exchange = `test.${rid()}.events`;
  const svc = await startCandystore({
    databaseUrl: db.url,
    transport,
    exchange,
    queue: `test.${rid()}.candystore`,
    dlx: `test.${rid()}.dlx`,
    port: 0,
    host: '127.0.0.1',
    batchSize: 50,
    batchMaxWaitMs: 10,
    logLevel: process.env.CS_DEBUG ? 'info' : 'silent',
    publishSummaries: false,
  });
  const published: EventEnvelope[] = [];
  const publish = async (e: EventEnvelope) => {
    await transport.publish({
      exchange,
      routingKey: e.event_type,
      body: Buffer.from(JSON.stringify(e)),
      properties: envelopeAmqpProperties(e),
    });
  };
  let restarted = false;
  let restartOver = false;
  try {
    const producer = (async () => {
      // keep publishing until the restart is over, so the outage always meets live ingest
      for (let i = 0; i < 4000 || !restartOver; i++) {
        const e = envelope('test.restart.happened', { i });
        published.push(e);
        await publish(e);
        // some redeliveries on top
        if (i % 97 === 0) await publish(e);
        if (i % 20 === 0) await new Promise((r) => setTimeout(r, 5));
        if (i >= 4000) await new Promise((r) => setTimeout(r, 20)); // waiting for the restart lock
      }
    })();
    await new Promise((r) => setTimeout(r, 250));
    try {
      await pgctl('restart');
      restarted = true;
    } catch (err) {
      // the restart never began: the server is untouched and needs no start
      if (err instanceof LockBusy) restarted = true;
      throw err;
    } finally {
      restartOver = true;
    }
    await producer;
    const client = new pg.Client({ connectionString: db.url });
    await waitFor(
      async () => {
        try {
          if (!(client as unknown as { _connected: boolean })._connected) await client.connect();
          const r = await client.query<{ n: string }>(
            "SELECT count(*)::text AS n FROM events WHERE event_type = 'test.restart.happened'",
          );
          return Number(r.rows[0]!.n) >= published.length;
        } catch {
          return false;
        }
      },
      60_000,
      'every event stored after the restart',
    );
    const rows = await client.query<{ event_id: string }>(
      "SELECT event_id FROM events WHERE event_type = 'test.restart.happened'",
    );
    await client.end();
    assert.equal(rows.rows.length, published.length, 'nothing doubled');
    // the outage really hit the ingest path (batches failed and were retried)
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    const failures = Number(/candystore_insert_failures_total (\d+)/.exec(metrics)?.[1] ?? 0);
    assert.ok(failures > 0, 'no batch failed during the restart');
    const ids = new Set(rows.rows.map((r) => r.event_id));
    assert.ok(
      published.every((e) => ids.has(e.event_id)),
      'nothing lost',
    );
  } finally {
    if (!restarted) await pgctl('start').catch(() => {});
    await svc.close();
    await transport.close();
    await db.drop();
  }
});
