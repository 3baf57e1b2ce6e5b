import { envVar, parse, readEnv } from '../config.js';
import { type AccessToken, parseLegacyPublishTokens, parseTokenEntries, readTokenFile } from './tokens.js';

// One access configuration, read by every part (gateway, store, dashboard, dispatcher).

export const AUTH_TOKENS = envVar({
  name: 'AUTH_TOKENS',
  doc: 'Tokens of every part: `token=principal:scope+scope,...` with scopes `publish`, `read`, `operate` (`docs/security.md`). Unset (and no AUTH_TOKENS_FILE): no auth, loopback only.',
  parse: parse.string,
});

export const AUTH_TOKENS_FILE = envVar({
  name: 'AUTH_TOKENS_FILE',
  doc: 'Path of a file with one `token=principal:scope+scope` a line (`#` comments): keeps the tokens out of the environment. Adds to AUTH_TOKENS.',
  parse: parse.string,
});

export const BLOODBANK_AUTH_TOKENS = envVar({
  name: 'BLOODBANK_AUTH_TOKENS',
  doc: "Earlier releases' gateway tokens: `token=service-id,...` or the path of a file with one a line. Each works as a `publish` token of that service.",
  parse: parse.string,
});

export const ALLOW_UNAUTHENTICATED = envVar({
  name: 'ALLOW_UNAUTHENTICATED',
  doc: 'true: a part may listen on a non-loopback address with no tokens configured (anyone who reaches it can publish, read and operate); logged as a warning at every start.',
  default: 'false',
  parse: parse.bool,
});

export const ALLOWED_ORIGINS = envVar({
  name: 'ALLOWED_ORIGINS',
  doc: "Browser origins (`https://ops.example.com`) allowed to open WebSockets and call state-changing routes, besides the dashboard's own origin.",
  parse: parse.list,
});

export const ALLOWED_HOSTS = envVar({
  name: 'ALLOWED_HOSTS',
  doc: 'Host names requests may address besides loopback names and the bound addresses (`bus.example.com`; `.example.com` allows its subdomains). Others get 421 (DNS rebinding).',
  parse: parse.list,
});

/** Who may call, and from where: the same for every part. */
export interface AccessConfig {
  readonly tokens: readonly AccessToken[];
  /** Listen beyond loopback with no tokens (a warning at every start). */
  readonly allowUnauthenticated: boolean;
  /** Browser origins allowed besides the request's own and the dashboard's. */
  readonly allowedOrigins: readonly string[];
  /** Host names allowed besides loopback names and the bound addresses. */
  readonly allowedHosts: readonly string[];
}

export const OPEN_ACCESS: AccessConfig = {
  tokens: [],
  allowUnauthenticated: false,
  allowedOrigins: [],
  allowedHosts: [],
};

export function accessConfigFromEnv(env: NodeJS.ProcessEnv = process.env): AccessConfig {
  const tokens: AccessToken[] = [];
  const inline = readEnv(AUTH_TOKENS, env);
  if (inline !== undefined) tokens.push(...parseTokenEntries(inline, 'AUTH_TOKENS'));
  const file = readEnv(AUTH_TOKENS_FILE, env);
  if (file !== undefined) tokens.push(...parseTokenEntries(readTokenFile(file, 'AUTH_TOKENS_FILE'), file));
  const legacy = readEnv(BLOODBANK_AUTH_TOKENS, env);
  if (legacy !== undefined) tokens.push(...parseLegacyPublishTokens(legacy));
  return {
    tokens,
    allowUnauthenticated: readEnv(ALLOW_UNAUTHENTICATED, env) ?? false,
    allowedOrigins: (readEnv(ALLOWED_ORIGINS, env) ?? []).map(normalizeOrigin),
    allowedHosts: (readEnv(ALLOWED_HOSTS, env) ?? []).map((h) => h.toLowerCase()),
  };
}

/** `HTTPS://Ops.Example.com:443/` → `https://ops.example.com`: origins compare as the browser sends them. */
export function normalizeOrigin(origin: string): string {
  try {
    return new URL(origin).origin;
  } catch {
    return origin.trim().toLowerCase().replace(/\/+$/, '');
  }
}
