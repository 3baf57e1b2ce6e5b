import { runTransportContract } from '../../src/testkit/index.js';
import { createRabbitMqTransport, RABBITMQ_FEATURES } from '../../src/transport/index.js';

const url = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
runTransportContract(
  'rabbitmq',
  () => createRabbitMqTransport({ url, connectionName: 'bloodbank-contract-test' }),
  RABBITMQ_FEATURES,
);
