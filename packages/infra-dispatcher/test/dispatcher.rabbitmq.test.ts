// The dispatcher end to end on the real RabbitMQ (TEST_AMQP_URL), with random exchange
// and queue names that are deleted after each test.
import { rabbitBackend, runDispatcherBusSuite } from './helpers/bus-suite.js';

runDispatcherBusSuite(rabbitBackend());
