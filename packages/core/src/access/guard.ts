import { isIP } from 'node:net';
import { AppError } from '../errors.js';
import { hostOf, isLoopbackHost, isWildcardHost, namesForBind } from './addresses.js';
import { type AccessConfig, normalizeOrigin, OPEN_ACCESS } from './config.js';
import { bearerToken, type Principal, type Scope, TokenTable } from './tokens.js';

/**
 * What a route needs. A scope: a token holding it (when tokens are configured). `public`: no
 * token (liveness, static assets, API docs). `signed`: the route authenticates the request
 * itself (webhooks carry the provider's HMAC), so neither a token nor a JSON body is required.
 */
export type RouteAccess = Scope | 'public' | 'signed';

/** The parts of an HTTP request the guard reads (a Fastify request, a Node IncomingMessage). */
export interface AccessRequest {
  readonly method: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** A `Host` header as a client sends it: a name or a bracketed IPv6 address, and a port. */
const AUTHORITY = /^(?:\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::\d{1,5})?$/;

/**
 * The one door of every HTTP part. In order: the `Host` is one this part serves (DNS
 * rebinding); a browser request that changes state or opens a WebSocket comes from an allowed
 * origin (another site's page); a state-changing POST is not a CORS-simple request (a form or a
 * `no-cors` fetch cannot send JSON or an Authorization header); the caller's token holds the
 * route's scope.
 */
export class AccessGuard {
  readonly #tokens: TokenTable;
  readonly #config: AccessConfig;
  readonly #hosts = new Set<string>();
  readonly #hostSuffixes: string[] = [];
  readonly #origins: Set<string>;

  constructor(config: AccessConfig = OPEN_ACCESS, options: { trustedOrigins?: readonly string[] } = {}) {
    this.#config = config;
    this.#tokens = new TokenTable(config.tokens);
    for (const h of config.allowedHosts) {
      if (h.startsWith('.')) this.#hostSuffixes.push(h);
      else this.#hosts.add(hostOf(h));
    }
    this.#origins = new Set(
      [...config.allowedOrigins, ...(options.trustedOrigins ?? [])].map(normalizeOrigin),
    );
  }

  /** Tokens are configured: every route but the public ones needs one. */
  get enabled(): boolean {
    return this.#tokens.size > 0;
  }

  /** Trusts a browser origin (the dashboard's, once its address is known). */
  trustOrigin(origin: string): void {
    this.#origins.add(normalizeOrigin(origin));
  }

  /**
   * Refuses to listen beyond loopback with no tokens unless ALLOW_UNAUTHENTICATED is set, then
   * records the names the part can be reached by for the Host check. Call before listening.
   */
  bind(part: string, host: string, hostVariable: string, warn: (message: string) => void): void {
    if (!isLoopbackHost(host) && !this.enabled) {
      if (!this.#config.allowUnauthenticated) {
        throw new AppError(
          'CONFIG_INVALID',
          `${part} would listen on ${isWildcardHost(host) ? `every interface (${host || '0.0.0.0'})` : host} with no tokens configured, so anyone on the network could use it. Set AUTH_TOKENS or AUTH_TOKENS_FILE (docs/security.md), or listen on 127.0.0.1 (${hostVariable}), or set ALLOW_UNAUTHENTICATED=true to accept the risk`,
        );
      }
      warn(
        `${part} listens on ${host} with no tokens (ALLOW_UNAUTHENTICATED=true): anyone who can reach it can publish, read and operate`,
      );
    }
    for (const name of namesForBind(host)) this.#hosts.add(name);
  }

  /** Checks a request against what its route needs; the caller, or null when anonymous. */
  check(request: AccessRequest, access: RouteAccess): Principal | null {
    const h = request.headers;
    this.#checkHost(header(h.host));
    const changesState = !SAFE_METHODS.has(request.method);
    const upgrade = header(h.upgrade)?.toLowerCase() === 'websocket';
    if (access === 'signed') return null;
    if (changesState || upgrade) this.#checkOrigin(header(h.origin), header(h.host));
    const authorization = header(h.authorization);
    if (request.method === 'POST' && authorization === undefined && !isJsonType(header(h['content-type']))) {
      throw new AppError(
        'UNSUPPORTED_MEDIA_TYPE',
        'send Content-Type: application/json (a body of {} when there is nothing to say); state-changing routes take no form or text bodies',
      );
    }
    return this.authorize(authorization, access);
  }

  /**
   * The principal of an Authorization header, checked against the route's scope. Public routes
   * never refuse: a bad token there is simply anonymous.
   */
  authorize(authorization: string | undefined, access: RouteAccess): Principal | null {
    const token = bearerToken(authorization);
    const principal = token === null ? undefined : this.#tokens.lookup(token);
    if (access === 'public' || access === 'signed' || !this.enabled) return principal ?? null;
    if (token === null) {
      throw new AppError('UNAUTHORIZED', `send Authorization: Bearer <token> with the '${access}' scope`);
    }
    if (principal === undefined) throw new AppError('UNAUTHORIZED', 'the bearer token is not valid');
    if (!principal.scopes.has(access)) {
      throw new AppError(
        'FORBIDDEN_SCOPE',
        `'${principal.name}' holds ${[...principal.scopes].join(', ') || 'no scope'}; this needs '${access}'`,
      );
    }
    return principal;
  }

  /** The principal of a bare token (the dashboard's login), or undefined. */
  lookup(token: string): Principal | undefined {
    return this.#tokens.lookup(token);
  }

  #checkHost(host: string | undefined): void {
    // HTTP/1.0 clients may send none; every browser sends one, so rebinding cannot hide there.
    if (host === undefined) return;
    const name = hostOf(host);
    // Only a plain authority: `127.0.0.1:80@evil.example` or `[::1]x` are no names a browser
    // sends, and would otherwise pass as the loopback name they start with.
    const authority = host.trim().toLowerCase();
    if (!AUTHORITY.test(authority) && isIP(authority) !== 6) {
      throw new AppError('HOST_NOT_ALLOWED', 'the Host header is not a host name and port');
    }
    if (isLoopbackHost(name) || this.#hosts.has(name)) return;
    if (this.#hostSuffixes.some((s) => name.endsWith(s))) return;
    throw new AppError(
      'HOST_NOT_ALLOWED',
      `this server does not answer for '${name}'; add it to ALLOWED_HOSTS if clients reach it by that name`,
    );
  }

  #checkOrigin(origin: string | undefined, host: string | undefined): void {
    // Non-browser clients send no Origin; they are held to their token.
    if (origin === undefined) return;
    const o = normalizeOrigin(origin);
    if (this.#origins.has(o)) return;
    if (o !== 'null' && host !== undefined) {
      try {
        // Same origin: the page was served by this very host (already checked above).
        if (new URL(o).host === host.toLowerCase()) return;
      } catch {
        // not a URL: refused below
      }
    }
    throw new AppError(
      'ORIGIN_NOT_ALLOWED',
      `requests from pages of ${o} are refused; add it to ALLOWED_ORIGINS if it is yours`,
    );
  }
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** `application/json`, `application/*+json` and NDJSON: none of them a CORS-simple type. */
function isJsonType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const t = contentType.split(';')[0]!.trim().toLowerCase();
  return (
    t === 'application/json' || t === 'application/x-ndjson' || /^application\/[a-z0-9.+-]*\+json$/.test(t)
  );
}

/**
 * The access a request's route declares (`config: { access }` on a Fastify route), else `read`
 * for safe methods and `operate` for the rest: a route nobody thought about is closed.
 */
export function routeAccess(request: AccessRequest & { routeOptions?: { config?: unknown } }): RouteAccess {
  const declared = (request.routeOptions?.config as { access?: RouteAccess } | undefined)?.access;
  if (declared !== undefined) return declared;
  return SAFE_METHODS.has(request.method) ? 'read' : 'operate';
}
