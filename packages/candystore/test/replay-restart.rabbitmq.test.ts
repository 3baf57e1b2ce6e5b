import { createRabbitMqTransport } from '@33god/bloodbank';
import { freshDatabase, TEST_AMQP_URL } from './helpers.js';
import { replayRestartSuite } from './suites/replay-restart-suite.js';

replayRestartSuite(
  {
    name: 'postgres',
    async setup() {
      const db = await freshDatabase();
      return { options: { databaseUrl: db.url }, teardown: db.drop };
    },
  },
  { name: 'RabbitMQ', connect: () => createRabbitMqTransport({ url: TEST_AMQP_URL }) },
);
