import { AppError } from './errors.js';

/**
 * Configuration from environment variables: defaults first, then validation, then
 * construction. Every variable a part reads is declared with `envVar`, which also
 * records it in `ENV_VARS` so a test can check the README's table lists them all.
 */

export interface EnvVarSpec<T> {
  readonly name: string;
  readonly doc: string;
  /** The default as documented (what `parse` receives when the variable is unset). */
  readonly default?: string;
  readonly parse: (raw: string, name: string) => T;
}

const declared = new Map<string, EnvVarSpec<unknown>>();

/** Every environment variable declared so far, by name. */
export const ENV_VARS: ReadonlyMap<string, EnvVarSpec<unknown>> = declared;

export function envVar<T>(spec: EnvVarSpec<T>): EnvVarSpec<T> {
  declared.set(spec.name, spec as EnvVarSpec<unknown>);
  return spec;
}

/** Reads one variable: unset or empty uses the default; no default and unset gives `undefined`. */
export function readEnv<T>(spec: EnvVarSpec<T>, env: NodeJS.ProcessEnv = process.env): T | undefined {
  const raw = env[spec.name];
  const value = raw === undefined || raw === '' ? spec.default : raw;
  if (value === undefined) return undefined;
  return spec.parse(value, spec.name);
}

export function requireEnv<T>(spec: EnvVarSpec<T>, env: NodeJS.ProcessEnv = process.env): T {
  const v = readEnv(spec, env);
  if (v === undefined) throw new AppError('CONFIG_INVALID', `${spec.name} is required: ${spec.doc}`);
  return v;
}

// --- parsers ---

export const parse = {
  string: (raw: string): string => raw,
  int:
    (min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER) =>
    (raw: string, name: string): number => {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < min || n > max) {
        throw new AppError(
          'CONFIG_INVALID',
          `${name} must be a whole number from ${min} to ${max}, got '${raw}'`,
        );
      }
      return n;
    },
  port: (raw: string, name: string): number => parse.int(0, 65535)(raw, name),
  bool: (raw: string, name: string): boolean => {
    const v = raw.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    throw new AppError('CONFIG_INVALID', `${name} must be true or false, got '${raw}'`);
  },
  list: (raw: string): string[] =>
    raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  oneOf:
    <const T extends string>(values: readonly T[]) =>
    (raw: string, name: string): T => {
      const v = raw.trim().toLowerCase();
      if (!(values as readonly string[]).includes(v)) {
        throw new AppError('CONFIG_INVALID', `${name} must be one of ${values.join(', ')}, got '${raw}'`);
      }
      return v as T;
    },
  url:
    (protocols: readonly string[]) =>
    (raw: string, name: string): string => {
      let u: URL;
      try {
        u = new URL(raw);
      } catch {
        throw new AppError(
          'CONFIG_INVALID',
          `${name} must be a URL (${protocols.join(' or ')}), got '${raw}'`,
        );
      }
      if (!protocols.includes(u.protocol.replace(/:$/, ''))) {
        throw new AppError(
          'CONFIG_INVALID',
          `${name} must use ${protocols.join(' or ')}, got '${u.protocol}'`,
        );
      }
      return raw;
    },
};

// --- variables shared by several parts ---

export const AMQP_URL = envVar({
  name: 'AMQP_URL',
  doc: 'RabbitMQ URL (amqp:// or amqps://), or the nodes of one cluster as a comma-separated list of them (connected one at a time, the next after a loss). Unset: the embedded in-process broker.',
  parse: parseBrokerUrlList,
});

/**
 * The shape of a broker URL list; the transport checks each URL fully. An empty entry or one
 * that is not amqp:// or amqps:// is INVALID_BROKER_URL naming it, without its password.
 */
function parseBrokerUrlList(raw: string, name: string): string {
  const entries = raw.split(',').map((e) => e.trim());
  entries.forEach((entry, i) => {
    const which = entries.length === 1 ? name : `${name} entry ${i + 1} of ${entries.length}`;
    if (entry === '') throw new AppError('INVALID_BROKER_URL', `${which} is empty`);
    if (!/^amqps?:\/\//i.test(entry)) {
      const shown = entry.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@');
      throw new AppError('INVALID_BROKER_URL', `${which} must be an amqp:// or amqps:// URL, got '${shown}'`);
    }
  });
  return entries.join(',');
}

export const DATABASE_URL = envVar({
  name: 'DATABASE_URL',
  doc: 'PostgreSQL URL for Candystore. Unset: embedded PostgreSQL (PGlite) in CANDYSTORE_DATA_DIR.',
  parse: parse.url(['postgres', 'postgresql']),
});

export const HOLYFIELDS_SCHEMAS = envVar({
  name: 'HOLYFIELDS_SCHEMAS',
  doc: "Directory of the Holyfields schema tree. Default: the project's schemas/.",
  parse: parse.string,
});

export const SERVICES_REGISTRY = envVar({
  name: 'SERVICES_REGISTRY',
  doc: "Path of the service registry. Default: the project's services/registry.yaml.",
  parse: parse.string,
});

// The two HTTP parts other processes talk to: declared once here because the bb CLI and the
// dashboard both read them.

export const BLOODBANK_URL = envVar({
  name: 'BLOODBANK_URL',
  doc: 'Base URL of the Bloodbank gateway, used by `bb publish`, `bb health`, `bb dlq` (without an AMQP URL) and proxied by the dashboard under /api/bus.',
  default: 'http://127.0.0.1:8682',
  parse: parse.url(['http', 'https']),
});

export const CANDYSTORE_URL = envVar({
  name: 'CANDYSTORE_URL',
  doc: 'Base URL of Candystore, used by `bb tail` (without an AMQP URL), `bb health` and proxied by the dashboard under /api/store.',
  default: 'http://127.0.0.1:8080',
  parse: parse.url(['http', 'https']),
});

export const BB_TOKEN = envVar({
  name: 'BB_TOKEN',
  doc: 'Bearer token the bb CLI sends to the gateway and the store when they have tokens configured (`bb publish`: publish, `bb tail` and `bb dlq list`/`show`: read, `bb dlq redrive`/`purge`: operate); `--token` overrides it.',
  parse: parse.string,
});

export const LOG_LEVEL = envVar({
  name: 'LOG_LEVEL',
  doc: 'Log level: fatal, error, warn, info, debug, trace or silent.',
  default: 'info',
  parse: parse.oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
});
