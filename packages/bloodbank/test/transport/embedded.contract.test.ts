import { runTransportContract } from '../../src/testkit/index.js';
import { createEmbeddedTransport, EMBEDDED_FEATURES, EmbeddedBroker } from '../../src/transport/index.js';

// A broker of its own per run, plus the shared one that the all-in-one process uses.
const broker = new EmbeddedBroker();
const bounded = async (maxQueueMessages: number) =>
  createEmbeddedTransport({ broker: new EmbeddedBroker({ maxQueueMessages }) });
runTransportContract(
  'embedded (private broker)',
  async () => createEmbeddedTransport({ broker }),
  EMBEDDED_FEATURES,
  { bounded },
);
runTransportContract('embedded (shared broker)', async () => createEmbeddedTransport(), EMBEDDED_FEATURES, {
  bounded,
});
