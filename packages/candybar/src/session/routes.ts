import { type AccessGuard, AppError, type Principal, RateLimiter, SCOPES, type Scope } from '@33god/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { clearedSessionCookie, readCookie, SESSION_COOKIE, sessionCookie } from './cookie.js';
import type { SessionStore } from './store.js';

/** What `GET /api/session` tells the page: whether to ask for a token, and what to show. */
export interface SessionView {
  /** Tokens are configured: the dashboard needs a login. */
  auth: boolean;
  /** Who is logged in (or named by the request's own token); null when nobody is. */
  principal: string | null;
  /** What the caller may do; every scope when auth is off. */
  scopes: Scope[];
}

const MAX_TOKEN_LENGTH = 4096;

/** Wrong tokens one address may try: a burst of 10, then one more every 6 s. */
export const FAILED_LOGINS = { limit: 10, windowMs: 60_000 } as const;
/** Addresses with a count of failures; past it the least recently seen is forgotten. */
export const FAILED_LOGIN_ADDRESSES = 10_000;

/**
 * Counts wrong tokens per client address (a successful login costs nothing). Its table is
 * bounded, least recently used first out: addresses sprayed by one attacker cost memory up to
 * the bound only, and an address that keeps guessing keeps its count (each attempt refreshes it).
 */
export function failedLoginLimiter(): RateLimiter {
  return new RateLimiter(FAILED_LOGINS, { maxKeys: FAILED_LOGIN_ADDRESSES, what: 'failed logins' });
}

/**
 * `GET`, `POST` and `DELETE /api/session`: public routes, so the login page can use them, yet
 * behind the same Host, Origin and JSON checks as every other route. An address that sent too
 * many wrong tokens is refused (429 `RATE_LIMITED`, Retry-After) before its token is looked at,
 * the right one included: otherwise the answer would still tell a guess that is right.
 */
export function registerSessionRoutes(
  app: FastifyInstance,
  guard: AccessGuard,
  sessions: SessionStore,
  failedLogins: RateLimiter = failedLoginLimiter(),
): void {
  const view = (principal: Principal | null): SessionView => ({
    auth: guard.enabled,
    principal: principal?.name ?? null,
    scopes: !guard.enabled ? [...SCOPES] : principal ? SCOPES.filter((s) => principal.scopes.has(s)) : [],
  });

  app.get('/api/session', { config: { access: 'public' } }, async (request, reply) => {
    reply.header('cache-control', 'no-store');
    return view(request.principal);
  });

  app.post('/api/session', { config: { access: 'public' }, bodyLimit: 16 * 1024 }, async (request, reply) => {
    reply.header('cache-control', 'no-store');
    if (!guard.enabled) {
      throw new AppError('CONFLICT', 'no tokens are configured (AUTH_TOKENS): the dashboard needs no login');
    }
    const token = (request.body as { token?: unknown } | null)?.token;
    if (typeof token !== 'string' || token === '' || token.length > MAX_TOKEN_LENGTH) {
      throw new AppError(
        'INVALID_REQUEST',
        `send {"token": "<token>"} (at most ${MAX_TOKEN_LENGTH} characters)`,
      );
    }
    failedLogins.check(request.ip);
    const principal = guard.lookup(token);
    if (principal === undefined) {
      failedLogins.take(request.ip);
      throw new AppError('UNAUTHORIZED', 'the token is not valid');
    }
    endSession(request, sessions);
    const id = sessions.create(token);
    reply.header('set-cookie', sessionCookie(id, overHttps(request)));
    return view(principal);
  });

  app.delete('/api/session', { config: { access: 'public' } }, async (request, reply) => {
    endSession(request, sessions);
    return reply
      .header('cache-control', 'no-store')
      .header('set-cookie', clearedSessionCookie(overHttps(request)))
      .code(204)
      .send();
  });
}

/**
 * The browser reached the dashboard over https: directly, or through a proxy that ends TLS (the
 * page's origin, which the browser sends with the login POST, says so; no forwarded header is
 * trusted).
 */
function overHttps(request: FastifyRequest): boolean {
  const origin = request.headers.origin;
  return request.protocol === 'https' || (typeof origin === 'string' && origin.startsWith('https://'));
}

function endSession(request: FastifyRequest, sessions: SessionStore): void {
  const header = request.headers.cookie;
  const id = readCookie(Array.isArray(header) ? header[0] : header, SESSION_COOKIE);
  if (id !== undefined) sessions.delete(id);
}
