import { createEmbeddedTransport, EmbeddedBroker } from '@33god/bloodbank';
import { BACKENDS } from './helpers.js';
import { replaySuite } from './suites/replay-suite.js';

for (const backend of BACKENDS) {
  replaySuite(backend.name, () => backend.setup(), {
    name: 'embedded broker',
    create: async () => createEmbeddedTransport({ broker: new EmbeddedBroker() }),
  });
}
