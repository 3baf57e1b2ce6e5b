/**
 * What a component check may see of the dispatcher's environment. A check is a shell
 * command in a checkout that agents edit, and its output goes into the next agent's
 * prompt and onto the bus; the dispatcher's environment holds the OpenClaw token and the
 * broker's and database's credentials. So a check gets a few variables every tool
 * expects, plus the names its component's config passes on, and never one of the
 * dispatcher's own secrets. Their values are also cut out of the check's output, for a
 * check that finds them another way (a file, `/proc`).
 */

/** Passed to every check, when the dispatcher has them: enough to find tools, a home and a locale. */
export const BASE_CHECK_ENV: readonly string[] = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ'];

/**
 * The dispatcher's own secrets (with every `*_WEBHOOK_SECRET`): a component's config may not
 * pass them on, and their values are redacted from check output. `AMQP_MANAGEMENT_URL`
 * carries the broker's credentials as `AMQP_URL` does.
 */
export const DISPATCHER_SECRET_ENV: readonly string[] = [
  'OPENCLAW_HOOK_TOKEN',
  'AMQP_URL',
  'AMQP_MANAGEMENT_URL',
  'DATABASE_URL',
  'AUTH_TOKENS',
  'AUTH_TOKENS_FILE',
  'BLOODBANK_AUTH_TOKENS',
];

const WEBHOOK_SECRET = /(^|_)WEBHOOK_SECRET$/;

/** Compared ignoring case: `openclaw_hook_token` is refused too rather than argued about. */
export function isDispatcherSecret(name: string): boolean {
  const upper = name.toUpperCase();
  return DISPATCHER_SECRET_ENV.includes(upper) || WEBHOOK_SECRET.test(upper);
}

/** A POSIX environment variable name (what a shell can export). */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The environment of one check: the base variables and `passEnv` taken from `parent`
 * (those it does not have are left out), then `values` (literal values from the config).
 * A secret name in `passEnv` is skipped here as well as refused by the config, so a
 * caller that skipped validation cannot pass one on either.
 */
export function checkEnvironment(
  parent: NodeJS.ProcessEnv,
  passEnv: readonly string[] = [],
  values: Readonly<Record<string, string>> = {},
): Record<string, string> {
  // No prototype: Node's spawn copies inherited properties of `env` into the child too.
  const env = Object.create(null) as Record<string, string>;
  for (const name of [...BASE_CHECK_ENV, ...passEnv]) {
    if (isDispatcherSecret(name) || !Object.hasOwn(parent, name)) continue;
    const value = parent[name];
    if (value !== undefined) env[name] = value;
  }
  for (const [name, value] of Object.entries(values)) env[name] = value;
  return env;
}

/** A value to cut out of check output, and the variable it came from (named in its place). */
export interface CheckSecret {
  readonly name: string;
  readonly value: string;
}

/** Shorter values are not redacted: they would match ordinary words and numbers in the output. */
export const MIN_REDACTED_LENGTH = 8;

/**
 * The values to redact: every dispatcher secret set in `parent`, plus `extra` (the hook
 * token the config was given directly). Besides each whole value, the parts a check may
 * print on their own: the items of a list (`token=service,…`), the token of a
 * `token=service` item, the password of a URL. Longest first, so a value containing
 * another is replaced whole.
 */
export function dispatcherSecrets(
  parent: NodeJS.ProcessEnv,
  extra: readonly CheckSecret[] = [],
): CheckSecret[] {
  const byValue = new Map<string, string>();
  const add = (name: string, value: string): void => {
    for (const part of secretParts(value)) {
      if (part.length >= MIN_REDACTED_LENGTH && !byValue.has(part)) byValue.set(part, name);
    }
  };
  for (const [name, value] of Object.entries(parent)) {
    if (value !== undefined && isDispatcherSecret(name)) add(name, value);
  }
  for (const s of extra) add(s.name, s.value);
  return [...byValue]
    .map(([value, name]) => ({ name, value }))
    .sort((a, b) => b.value.length - a.value.length);
}

function secretParts(value: string): string[] {
  const parts = [value, value.trim()];
  for (const item of value.split(/[\s,;]+/)) {
    parts.push(item);
    const eq = item.indexOf('=');
    if (eq > 0) parts.push(item.slice(0, eq));
    const password = urlPassword(item);
    if (password) parts.push(password, safeDecode(password));
  }
  return parts;
}

function urlPassword(s: string): string | undefined {
  if (!s.includes('://')) return undefined;
  try {
    return new URL(s).password || undefined;
  } catch {
    return undefined;
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function redactSecrets(text: string, secrets: readonly CheckSecret[]): string {
  let out = text;
  for (const s of secrets) {
    if (out.includes(s.value)) out = out.split(s.value).join(`[redacted ${s.name}]`);
  }
  return out;
}
