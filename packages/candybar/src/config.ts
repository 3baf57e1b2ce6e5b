import { envVar, parse } from '@33god/core';

export const CANDYBAR_PORT = envVar({
  name: 'CANDYBAR_PORT',
  doc: 'Port of the Candybar dashboard (`candybar serve`).',
  default: '3000',
  parse: parse.port,
});

export const CANDYBAR_HOST = envVar({
  name: 'CANDYBAR_HOST',
  doc: 'Interface the dashboard listens on.',
  default: '127.0.0.1',
  parse: parse.string,
});

export const CANDYSTORE_URL = envVar({
  name: 'CANDYSTORE_URL',
  doc: 'Base URL of Candystore, proxied by the dashboard under /api/store.',
  default: 'http://127.0.0.1:8080',
  parse: parse.url(['http', 'https']),
});

export const BLOODBANK_URL = envVar({
  name: 'BLOODBANK_URL',
  doc: 'Base URL of the Bloodbank gateway, proxied by the dashboard under /api/bus.',
  default: 'http://127.0.0.1:8682',
  parse: parse.url(['http', 'https']),
});
