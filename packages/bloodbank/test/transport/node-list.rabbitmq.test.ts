// AMQP_URL as a comma-separated node list, against the machine's single RabbitMQ: the list is
// checked entry by entry, a dead node is skipped for the next one, and the node connected to
// is reported (redacted). Failover between live nodes runs on the cluster
// (test/cluster/contract.cluster.test.ts).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, describe, it } from 'node:test';
import { AMQP_URL, type AppError, isAppError, readEnv } from '@33god/core';
import { waitFor } from '../../src/testkit/index.js';
import {
  AMQP_MANAGEMENT_URL,
  createRabbitMqTransport,
  createTransport,
  logConnectionState,
  type TransportState,
} from '../../src/transport/index.js';
import { startAmqpProxy } from './fixtures/amqp-proxy.js';

const url = (process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672').split(',')[0]!.trim();
const port = Number(new URL(url).port || 5672);

/** A port nothing listens on: bound, its number kept, closed. */
async function deadPort(): Promise<number> {
  const s: Server = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return p;
}

async function refusal(u: string): Promise<AppError> {
  try {
    const t = await createTransport({ url: u });
    await t.close();
  } catch (err) {
    assert.ok(isAppError(err), `expected an AppError, got ${String(err)}`);
    return err;
  }
  assert.fail(`'${u}' should have been refused`);
}

/**
 * A node that accepts connections but answers nothing else (booting, overloaded, on the
 * minority side of a partition): the connection handshake and heartbeats (AMQP channel 0) go
 * through to the shared broker, every frame on another channel is dropped, so `channel.open`
 * never gets its answer.
 */
const silentNode = () => startAmqpProxy(port, (frame) => frame.channel === 0);

describe('AMQP_URL with a list of nodes', () => {
  const closers: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of closers) await c();
  });

  it('refuses an empty entry and a non-amqp entry, naming it without its password', async () => {
    const empty = await refusal(`${url},,${url}`);
    assert.equal(empty.code, 'INVALID_BROKER_URL');
    assert.match(empty.message, /entry 2 of 3 .* is empty/);
    assert.ok(!empty.message.includes(':guest@'), empty.message);

    const http = await refusal(`${url},http://guest:s3cret@127.0.0.1:15672`);
    assert.equal(http.code, 'INVALID_BROKER_URL');
    assert.match(http.message, /entry 2 of 2 .*must start with amqp:\/\/ or amqps:\/\//);
    assert.ok(!http.message.includes('s3cret'), http.message);

    const first = await refusal(`nonsense,${url}`);
    assert.equal(first.code, 'INVALID_BROKER_URL');
    assert.match(first.message, /entry 1 of 2 .*'nonsense' is not a URL/);
  });

  it('AMQP_URL read from the environment: a list passes, a bad entry is INVALID_BROKER_URL naming it', () => {
    assert.equal(readEnv(AMQP_URL, { AMQP_URL: ` ${url} , ${url}` }), `${url},${url}`);
    assert.throws(
      () => readEnv(AMQP_URL, { AMQP_URL: `${url},` }),
      (e: unknown) =>
        isAppError(e) && e.code === 'INVALID_BROKER_URL' && /entry 2 of 2 is empty/.test(e.message),
    );
    assert.throws(
      () => readEnv(AMQP_URL, { AMQP_URL: `${url},redis://u:topsecret@h:6379` }),
      (e: unknown) =>
        isAppError(e) &&
        e.code === 'INVALID_BROKER_URL' &&
        /entry 2 of 2/.test(e.message) &&
        !e.message.includes('topsecret'),
    );
    assert.equal(
      readEnv(AMQP_MANAGEMENT_URL, { AMQP_MANAGEMENT_URL: 'http://a:15672, http://b:15672' }),
      'http://a:15672,http://b:15672',
    );
  });

  it('skips a node that refuses and reports the one it is connected to, redacted', {
    timeout: 20_000,
  }, async () => {
    const dead = await deadPort();
    const t = await createRabbitMqTransport({ url: `amqp://guest:guest@127.0.0.1:${dead},${url}` });
    closers.push(() => t.close());
    assert.equal(t.state, 'connected');
    assert.equal(t.node, `amqp://guest@127.0.0.1:${port}/`);
    assert.ok(await t.checkExchange('amq.topic'));
  });

  it('gives up a node that accepts the connection but never opens a channel, for the next one', {
    timeout: 30_000,
  }, async () => {
    const silent = await silentNode();
    closers.push(() => silent.close());
    const silentUrl = `amqp://guest:guest@127.0.0.1:${silent.port}`;

    // Alone, it never becomes connected, and says why.
    const stuck = await createRabbitMqTransport({
      url: silentUrl,
      initialConnect: 'retry',
      restoreTimeoutMs: 300,
      reconnect: { initialDelayMs: 20, maxDelayMs: 50 },
    });
    closers.push(() => stuck.close());
    await waitFor(() => stuck.lastError !== undefined, 'a failed attempt', 10_000);
    const why = stuck.lastError ?? '';
    assert.equal(stuck.state === 'connected', false);
    assert.match(
      why,
      new RegExp(
        `127\\.0\\.0\\.1:${silent.port}/ accepted the connection but did not finish opening the publish channel within 300 ms`,
      ),
    );
    await stuck.close();

    // First in a list: skipped for the next node once the restore takes too long, also when
    // the connection to the next node is lost later and the silent node comes round again.
    const connectionName = `test-node-list-silent-${process.pid}`;
    const t = await createRabbitMqTransport({
      url: `${silentUrl},${url}`,
      restoreTimeoutMs: 300,
      connectionName,
    });
    closers.push(() => t.close());
    assert.equal(t.state, 'connected');
    assert.equal(t.node, `amqp://guest@127.0.0.1:${port}/`);
    assert.equal(t.lastError, undefined);
    const q = `test.node-list.silent.${process.pid}.${Date.now()}`;
    await t.assertQueue(q, { autoDelete: false, durable: false });
    try {
      // The management API lists a new connection with its name after its next stats round.
      let mine: string[] = [];
      await waitFor(
        async () => {
          const res = await fetch('http://127.0.0.1:15672/api/connections', {
            headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` },
          });
          const all = (await res.json()) as {
            name: string;
            client_properties?: { connection_name?: string };
          }[];
          mine = all
            .filter((c) => c.client_properties?.connection_name === connectionName)
            .map((c) => c.name);
          return mine.length > 0;
        },
        'the connection listed by the management API',
        15_000,
      );
      for (const name of mine) {
        await fetch(`http://127.0.0.1:15672/api/connections/${encodeURIComponent(name)}`, {
          method: 'DELETE',
          headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` },
        });
      }
      await waitFor(() => t.state !== 'connected', 'the loss noticed', 10_000);
      await waitFor(() => t.state === 'connected', 'connected again, past the silent node', 15_000);
      assert.equal(t.node, `amqp://guest@127.0.0.1:${port}/`);
      assert.ok(await t.checkQueue(q), 'the queue is there');
    } finally {
      await t.deleteQueue(q);
    }
  });

  it('listBindings asks the management API given for the node connected to', {
    timeout: 20_000,
  }, async () => {
    const dead = await deadPort();
    const t = await createRabbitMqTransport({
      url: `amqp://guest:guest@127.0.0.1:${dead},${url}`,
      // The first entry belongs to the dead node: used, it would fail.
      managementUrl: `http://127.0.0.1:${await deadPort()},http://127.0.0.1:15672`,
    });
    closers.push(() => t.close());
    const q = `test.node-list.${process.pid}.${Date.now()}`;
    await t.assertQueue(q, { autoDelete: true });
    try {
      await t.bindQueue(q, 'amq.topic', 'node.list');
      assert.deepEqual(await t.listBindings(q), [{ exchange: 'amq.topic', queue: q, pattern: 'node.list' }]);
    } finally {
      await t.deleteQueue(q);
    }
  });

  it('a management URL list of another length than the node list is CONFIG_INVALID', async () => {
    await assert.rejects(
      createRabbitMqTransport({ url: `${url},${url}`, managementUrl: 'http://a:1,http://b:2,http://c:3' }),
      (e: unknown) =>
        isAppError(e) && e.code === 'CONFIG_INVALID' && /one entry per broker node \(2\)/.test(e.message),
    );
  });

  it('every node down: BROKER_UNAVAILABLE naming each node; with retry, keeps trying them in turn', {
    timeout: 20_000,
  }, async () => {
    const [a, b] = [await deadPort(), await deadPort()];
    const list = `amqp://guest:pw1@127.0.0.1:${a},amqp://guest:pw2@127.0.0.1:${b}`;
    const err = await refusal(list);
    assert.equal(err.code, 'BROKER_UNAVAILABLE');
    assert.match(
      err.message,
      new RegExp(`none of the 2 broker nodes answered .*127\\.0\\.0\\.1:${a}.*127\\.0\\.0\\.1:${b}`),
    );
    assert.ok(!/pw1|pw2/.test(err.message), err.message);

    const t = await createRabbitMqTransport({
      url: list,
      initialConnect: 'retry',
      reconnect: { initialDelayMs: 20, maxDelayMs: 50 },
    });
    closers.push(() => t.close());
    const tried = new Set<string>();
    const states: TransportState[] = [];
    const warnings: object[] = [];
    const stopLog = logConnectionState(
      t,
      { warn: (o) => warnings.push(o), info: () => {} },
      { intervalMs: 0 },
    );
    t.onStateChange((s) => {
      states.push(s);
      if (s === 'connecting' && t.node) tried.add(t.node);
    });
    await waitFor(() => tried.size === 2, 'both nodes tried in turn', 10_000);
    stopLog();
    assert.ok(states.includes('disconnected'));
    assert.ok(
      warnings.some((w) => String((w as { node?: string }).node).startsWith('amqp://guest@127.0.0.1:')),
      'the log names the node',
    );
    for (const n of tried) assert.ok(!n.includes('pw'), n);
  });
});
