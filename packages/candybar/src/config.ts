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

// CANDYSTORE_URL and BLOODBANK_URL are declared in @33god/core (the bb CLI reads them too).
