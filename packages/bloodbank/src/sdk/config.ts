import { envVar, parse } from '@33god/core';

export const BLOODBANK_UNKNOWN_TYPES = envVar({
  name: 'BLOODBANK_UNKNOWN_TYPES',
  doc: 'What publishing an event type with no schema does: reject (error UNKNOWN_EVENT_TYPE), warn (log and publish) or allow.',
  default: 'reject',
  parse: parse.oneOf(['reject', 'warn', 'allow'] as const),
});

export const BLOODBANK_PUBLISH_TIMEOUT_MS = envVar({
  name: 'BLOODBANK_PUBLISH_TIMEOUT_MS',
  doc: 'How long a publish waits for the broker to confirm before failing with PUBLISH_TIMEOUT.',
  default: '10000',
  parse: parse.int(1, 600_000),
});
