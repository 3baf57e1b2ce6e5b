import { envVar, parse } from '@33god/core';

/** Environment variables of the topology; every one is also an option of `resolveTopologyOptions`. */

export const BLOODBANK_EXCHANGE = envVar({
  name: 'BLOODBANK_EXCHANGE',
  doc: 'Name of the topic exchange every event is published to.',
  default: 'bloodbank.events.v1',
  parse: parse.string,
});

export const BLOODBANK_DLX = envVar({
  name: 'BLOODBANK_DLX',
  doc: 'Name of the dead-letter exchange (topic); `<queue>.dlq` is bound to it with the key `<queue>`.',
  default: 'bloodbank.dlx',
  parse: parse.string,
});

export const BLOODBANK_QUEUE_TYPE = envVar({
  name: 'BLOODBANK_QUEUE_TYPE',
  doc: 'Queue type of service, retry and dead-letter queues: classic or quorum (clusters use quorum).',
  default: 'classic',
  parse: parse.oneOf(['classic', 'quorum'] as const),
});

export const BLOODBANK_MESSAGE_TTL_MS = envVar({
  name: 'BLOODBANK_MESSAGE_TTL_MS',
  doc: 'Default message TTL of service queues in ms (expired messages are dead-lettered). A service can override it in the registry.',
  default: String(24 * 60 * 60 * 1000),
  parse: parse.int(1, 2 ** 31 - 1),
});
