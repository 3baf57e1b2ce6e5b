import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runTransportContract, runTransportRestartContract } from '../../src/testkit/index.js';
import {
  createEmbeddedTransport,
  DURABLE_EMBEDDED_FEATURES,
  type EmbeddedBroker,
  openEmbeddedBroker,
  type Transport,
} from '../../src/transport/index.js';

// The durable embedded broker passes the same contract as the in-memory one and RabbitMQ,
// and the restart contract with a "crash" that closes its journal without draining anything.
const root = mkdtempSync(join(tmpdir(), 'bloodbank-durable-'));
const brokers: EmbeddedBroker[] = [];
after(async () => {
  for (const b of brokers) await b.close();
  rmSync(root, { recursive: true, force: true });
});

async function durableBroker(dir: string, maxQueueMessages?: number): Promise<EmbeddedBroker> {
  const b = await openEmbeddedBroker({
    storage: 'durable',
    dataDir: dir,
    ...(maxQueueMessages === undefined ? {} : { maxQueueMessages }),
  });
  brokers.push(b);
  return b;
}

const shared = await durableBroker(join(root, 'contract'));
let bounded = 0;
runTransportContract(
  'embedded (durable broker)',
  async () => createEmbeddedTransport({ broker: shared }),
  DURABLE_EMBEDDED_FEATURES,
  {
    bounded: async (max) =>
      createEmbeddedTransport({ broker: await durableBroker(join(root, `bounded-${bounded++}`), max) }),
  },
);

const restartDir = join(root, 'restart');
let current = await durableBroker(restartDir);
let open: Transport[] = [];
runTransportRestartContract('embedded (durable broker, journal closed without drain)', {
  async open() {
    const t = createEmbeddedTransport({ broker: current });
    open.push(t);
    return t;
  },
  async restart() {
    // Nothing is drained: unsettled deliveries stay as the journal has them.
    for (const t of open) await t.close({ drainTimeoutMs: 0 });
    open = [];
    await current.close();
    current = await durableBroker(restartDir);
  },
});

describe('durable embedded broker: what a restart keeps', () => {
  it('keeps durable queues, drops non-durable, exclusive and auto-delete ones, and transient messages', async () => {
    const dir = join(root, 'kinds');
    let broker = await durableBroker(dir);
    let t = createEmbeddedTransport({ broker });
    await t.assertQueue('kept', { durable: true });
    await t.assertQueue('transient-queue', { durable: false });
    await t.assertQueue('exclusive', { durable: true, exclusive: true });
    await t.assertQueue('auto-delete', { durable: true, autoDelete: true });
    for (const persistent of [true, false]) {
      await t.publish({
        exchange: '',
        routingKey: 'kept',
        body: Buffer.from(String(persistent)),
        properties: { persistent },
      });
    }
    await t.close({ drainTimeoutMs: 0 });
    await broker.close();
    broker = await durableBroker(dir);
    t = createEmbeddedTransport({ broker });
    assert.equal((await t.checkQueue('kept'))?.messageCount, 1, 'the persistent message only');
    for (const gone of ['transient-queue', 'exclusive', 'auto-delete'])
      assert.equal(await t.checkQueue(gone), null, gone);
    const [d] = await t.peek('kept', 1);
    assert.equal(d?.body.toString(), 'true');
    await t.close();
  });
});
