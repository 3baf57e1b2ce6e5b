import { createRabbitMqTransport } from '@33god/bloodbank';
import { BACKENDS, deleteExchanges, TEST_AMQP_URL } from './helpers.js';
import { replaySuite } from './suites/replay-suite.js';

const postgres = BACKENDS.find((b) => b.name === 'postgres')!;
replaySuite('postgres', () => postgres.setup(), {
  name: 'RabbitMQ',
  create: () => createRabbitMqTransport({ url: TEST_AMQP_URL }),
  deleteExchanges,
});
