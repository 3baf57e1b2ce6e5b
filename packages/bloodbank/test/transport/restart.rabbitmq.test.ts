import { spawnSync } from 'node:child_process';
import { runTransportRestartContract } from '../../src/testkit/index.js';
import { createRabbitMqTransport, type Transport } from '../../src/transport/index.js';

// The restart contract against RabbitMQ: the node's application stopped and started again
// (under the shared restart lock, so no other test restarts it meanwhile). The same cases the
// durable embedded broker passes with its journal closed without draining.
const url = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
let open: Transport[] = [];

runTransportRestartContract('rabbitmq (stop_app, start_app)', {
  async open() {
    const t = await createRabbitMqTransport({ url, connectionName: 'bloodbank-restart-contract' });
    open.push(t);
    return t;
  },
  async restart() {
    // Nothing drained: the connections drop with the node, holding what they held.
    const r = spawnSync(
      'flock',
      ['/tmp/33god-restart.lock', 'sh', '-c', 'rabbitmqctl -q stop_app; rabbitmqctl -q start_app'],
      { stdio: 'inherit', timeout: 120_000 },
    );
    for (const t of open) await t.close({ drainTimeoutMs: 0 }).catch(() => {});
    open = [];
    if (r.status !== 0) throw new Error(`rabbitmqctl stop_app/start_app failed (${r.status})`);
  },
});
