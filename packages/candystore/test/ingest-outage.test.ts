import { createEmbeddedTransport, EmbeddedBroker } from '@33god/bloodbank';
import { BACKENDS } from './helpers.js';
import { ingestOutageSuite } from './suites/ingest-outage-suite.js';

for (const backend of BACKENDS) {
  ingestOutageSuite(backend, {
    name: 'embedded broker',
    create: async () => createEmbeddedTransport({ broker: new EmbeddedBroker() }),
  });
}
