import { envVar, parse } from '@33god/core';

// BLOODBANK_EXCHANGE (topology/config.ts) and BLOODBANK_UNKNOWN_TYPES (sdk/config.ts) are declared
// by the parts that own them; `bloodbank serve` reads those. BLOODBANK_URL (the gateway's address
// for clients) is in @33god/core, shared with the dashboard, and so are the access variables
// every part reads (AUTH_TOKENS, AUTH_TOKENS_FILE, the legacy BLOODBANK_AUTH_TOKENS,
// ALLOW_UNAUTHENTICATED, ALLOWED_ORIGINS, ALLOWED_HOSTS).

/** Environment variables of `bloodbank serve`; every one is also a `startGateway` option. */

export const BLOODBANK_PORT = envVar({
  name: 'BLOODBANK_PORT',
  doc: 'Port of the Bloodbank HTTP gateway.',
  default: '8682',
  parse: parse.port,
});

export const BLOODBANK_HOST = envVar({
  name: 'BLOODBANK_HOST',
  doc: 'Interface the gateway listens on. Anything but loopback needs tokens (AUTH_TOKENS) or ALLOW_UNAUTHENTICATED=true.',
  default: '127.0.0.1',
  parse: parse.string,
});

export const BLOODBANK_RATE_LIMIT = envVar({
  name: 'BLOODBANK_RATE_LIMIT',
  doc: 'Publish and operate requests per principal (per client address without auth), e.g. `100/s`, `6000/min`. Unset: no limit.',
  parse: parse.string,
});

export const BLOODBANK_BODY_LIMIT = envVar({
  name: 'BLOODBANK_BODY_LIMIT',
  doc: 'Largest accepted request body in bytes.',
  default: '1048576',
  parse: parse.int(1024, 1024 * 1024 * 1024),
});

export const BLOODBANK_BATCH_MAX = envVar({
  name: 'BLOODBANK_BATCH_MAX',
  doc: 'Most events accepted by one POST /events/batch.',
  default: '1000',
  parse: parse.int(1, 100_000),
});

export const BLOODBANK_HEALTH_INTERVAL = envVar({
  name: 'BLOODBANK_HEALTH_INTERVAL',
  doc: 'Seconds between bloodbank.health.status events (0: none).',
  default: '30',
  parse: parse.int(0, 86_400),
});

export const PLANE_WEBHOOK_SECRET = envVar({
  name: 'PLANE_WEBHOOK_SECRET',
  doc: 'HMAC secret of Plane webhooks (POST /webhooks/plane). Unset: the route answers 503.',
  parse: parse.string,
});

export const GITHUB_WEBHOOK_SECRET = envVar({
  name: 'GITHUB_WEBHOOK_SECRET',
  doc: 'HMAC secret of GitHub webhooks (POST /webhooks/github). Unset: the route answers 503.',
  parse: parse.string,
});
