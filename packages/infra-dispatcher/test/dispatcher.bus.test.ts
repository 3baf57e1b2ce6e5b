// The dispatcher end to end on the embedded broker (the same suite runs on RabbitMQ in
// dispatcher.rabbitmq.test.ts).
import { embeddedBackend, runDispatcherBusSuite } from './helpers/bus-suite.js';

runDispatcherBusSuite(embeddedBackend());
