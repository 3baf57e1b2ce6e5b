import {
  AppError,
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

export const CANDYBAR_TRACE_URL = envVar({
  name: 'CANDYBAR_TRACE_URL',
  doc: "Link from a chain to an external trace UI: an http(s) URL template containing `{trace_id}` (e.g. http://127.0.0.1:16686/trace/{trace_id}). Unset: the chain view links to the dashboard's own event list only.",
  parse: (raw, name) => parseTraceUrl(raw, name),
});

/** A trace UI link template: http(s), with `{trace_id}` where the 32 hex digits go. */
export function parseTraceUrl(raw: string, name = 'traceUrl'): string {
  let ok = raw.includes('{trace_id}');
  try {
    const u = new URL(raw.replaceAll('{trace_id}', '0'));
    ok &&= u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new AppError(
      'CONFIG_INVALID',
      `${name} must be an http(s) URL containing {trace_id}, got '${raw}'`,
    );
  }
  return raw;
}

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
  const traceUrl = readEnv(CANDYBAR_TRACE_URL, env);
  if (traceUrl !== undefined) options.traceUrl = traceUrl;
  const registryPath = readEnv(SERVICES_REGISTRY, env);
  if (registryPath !== undefined) options.registryPath = registryPath;
  return options;
}
