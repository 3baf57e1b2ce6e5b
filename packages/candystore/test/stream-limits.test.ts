// The live stream's socket caps, per client and in all, over real WebSockets. Clients are told
// apart by their address: each connects from its own loopback address (127.0.0.x).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createEmbeddedTransport, EmbeddedBroker, type Transport } from '@33god/bloodbank';
import WebSocket from 'ws';
import { type RunningCandystore, startCandystore } from '../src/index.js';
import { streamClientKey } from '../src/internal.js';
import { type Json, rid, waitFor } from './helpers.js';

type Opened = { ws: WebSocket } | { status: number; type: string; body: Json };

describe('live-stream caps', { timeout: 60_000 }, () => {
  let svc: RunningCandystore;
  let transport: Transport;
  const open: WebSocket[] = [];

  before(async () => {
    transport = createEmbeddedTransport({ broker: new EmbeddedBroker() });
    svc = await startCandystore({
      dataDir: null,
      transport,
      exchange: `test.${rid()}.events`,
      queue: `test.${rid()}.candystore`,
      dlx: `test.${rid()}.dlx`,
      port: 0,
      host: '127.0.0.1',
      logLevel: 'silent',
      registry: null,
      stream: { maxPerClient: 2, maxTotal: 3 },
    });
  });
  after(async () => {
    for (const ws of open) ws.terminate();
    await svc?.close();
    await transport?.close();
  });

  /** Opens `/stream` from `localAddress`: the socket, or the refusal the upgrade got. */
  const connect = (localAddress: string): Promise<Opened> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`${svc.url.replace('http', 'ws')}/stream`, { localAddress });
      ws.once('open', () => {
        open.push(ws);
        resolve({ ws });
      });
      ws.once('unexpected-response', (_req, res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => {
          resolve({
            status: res.statusCode ?? 0,
            type: String(res.headers['content-type']),
            body: JSON.parse(text),
          });
          ws.terminate();
        });
      });
      ws.on('error', reject);
    });
  const socket = (o: Opened): WebSocket => {
    assert.ok('ws' in o, `refused: ${JSON.stringify(o)}`);
    return o.ws;
  };
  const refused = (o: Opened) => {
    assert.ok(!('ws' in o), 'the upgrade was accepted');
    return o;
  };

  test('one client past its share gets a 429 problem before the upgrade; another still connects; then the total', async () => {
    const a1 = socket(await connect('127.0.0.1'));
    socket(await connect('127.0.0.1'));
    const a3 = refused(await connect('127.0.0.1'));
    assert.equal(a3.status, 429);
    assert.match(a3.type, /application\/problem\+json/);
    assert.equal(a3.body.code, 'TOO_MANY_STREAMS');
    assert.equal(a3.body.limit, 2);
    assert.match(a3.body.detail, /this client already holds 2 live streams/);

    // another client has its own share
    socket(await connect('127.0.0.2'));
    // three open in all: the store's cap, whoever asks
    const c1 = refused(await connect('127.0.0.3'));
    assert.equal(c1.status, 429);
    assert.equal(c1.body.code, 'TOO_MANY_STREAMS');
    assert.equal(c1.body.limit, 3);
    assert.match(c1.body.detail, /the store serves 3 live streams/);

    // a closed stream gives its slot back
    a1.close();
    let again: Opened | null = null;
    await waitFor(
      async () => {
        again = await connect('127.0.0.3');
        return 'ws' in again;
      },
      5000,
      'a slot freed by the close',
    );
    // refusals took nothing: the two other clients are where they were
    const a4 = refused(await connect('127.0.0.1'));
    assert.equal(a4.body.limit, 3);
  });
});

test('streamClientKey: the principal when the access hook named one, else the address', () => {
  assert.equal(
    streamClientKey({ ip: '10.0.0.7', principal: { name: 'ops', scopes: new Set() } } as { ip: string }),
    'principal:ops',
  );
  assert.equal(streamClientKey({ ip: '10.0.0.7', principal: null } as { ip: string }), 'ip:10.0.0.7');
  assert.equal(streamClientKey({ ip: '::1' }), 'ip:::1');
});
