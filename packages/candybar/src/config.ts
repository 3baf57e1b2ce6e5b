import {
  accessConfigFromEnv,
  BLOODBANK_URL,
  CANDYSTORE_URL,
  envVar,
  LOG_LEVEL,
  parse,
  readEnv,
  SERVICES_REGISTRY,
} from '@33god/core';
import type { CandybarOptions } from './server.js';

export const CANDYBAR_PORT = envVar({
  name: 'CANDYBAR_PORT',
  doc: 'Port of the Candybar dashboard (`candybar serve`).',
  default: '3000',
  parse: parse.port,
});

export const CANDYBAR_HOST = envVar({
  name: 'CANDYBAR_HOST',
  doc: 'Interface the dashboard listens on. Beyond loopback only with AUTH_TOKENS (or ALLOW_UNAUTHENTICATED=true).',
  default: '127.0.0.1',
  parse: parse.string,
});

// CANDYSTORE_URL and BLOODBANK_URL are declared in @33god/core (the bb CLI reads them too).

/**
 * The dashboard's options from the environment, defaults filled in (`candybar serve`; the
 * all-in-one takes the port and the interface from it and uses its own parts as backends).
 */
export function candybarOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): CandybarOptions {
  const options: CandybarOptions = {
    port: readEnv(CANDYBAR_PORT, env)!,
    host: readEnv(CANDYBAR_HOST, env)!,
    storeUrl: readEnv(CANDYSTORE_URL, env)!,
    busUrl: readEnv(BLOODBANK_URL, env)!,
    logLevel: readEnv(LOG_LEVEL, env)!,
    access: accessConfigFromEnv(env),
  };
  // no default: the server finds the project's own registry
  const registryPath = readEnv(SERVICES_REGISTRY, env);
  if (registryPath !== undefined) options.registryPath = registryPath;
  return options;
}
