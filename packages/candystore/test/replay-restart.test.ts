import { createEmbeddedTransport, EmbeddedBroker } from '@33god/bloodbank';
import { DURABLE_BACKENDS } from './helpers.js';
import { replayRestartSuite } from './suites/replay-restart-suite.js';

for (const backend of DURABLE_BACKENDS) {
  // one broker for the whole suite: it stays up while the store restarts
  const broker = new EmbeddedBroker();
  replayRestartSuite(backend, {
    name: 'embedded broker',
    connect: async () => createEmbeddedTransport({ broker }),
  });
}
