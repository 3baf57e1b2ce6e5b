import { createRabbitMqTransport } from '@33god/bloodbank';
import { BACKENDS, deleteExchanges, TEST_AMQP_URL } from './helpers.js';
import { ingestOutageSuite } from './suites/ingest-outage-suite.js';

for (const backend of BACKENDS) {
  ingestOutageSuite(backend, {
    name: 'RabbitMQ',
    create: () => createRabbitMqTransport({ url: TEST_AMQP_URL }),
    deleteExchanges,
  });
}
