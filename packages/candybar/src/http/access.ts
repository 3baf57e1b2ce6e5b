import {
  type AccessGuard,
  AppError,
  type Principal,
  type RouteAccess,
  routeAccess,
  secureAnswers,
} from '@33god/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { readCookie, SESSION_COOKIE } from '../session/cookie.js';
import type { SessionStore } from '../session/store.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    access?: RouteAccess;
    /**
     * Candybar passes the request on and the backend checks the scope (proxied state-changing
     * routes): Candybar itself asks only for a known caller. Set with `access: 'public'`.
     */
    scopeCheckedUpstream?: boolean;
    /** A WebSocket route (set from the route's `websocket` option): only these take an upgrade. */
    websocket?: boolean;
  }
}

/** The Authorization each request is passed on with: its own header, or its session's token. */
const credentials = new WeakMap<FastifyRequest, string>();

/** What the backends are sent as the caller's credential, if it has one. */
export function forwardedAuthorization(request: FastifyRequest): string | undefined {
  return credentials.get(request);
}

/**
 * The door of every route, WebSocket upgrades and 404s included. The guard checks the Host, the
 * Origin of state-changing and upgrade requests, and that a POST is not a form or `no-cors`
 * fetch; the caller is then who its Authorization header says, or else whom its session cookie
 * was logged in as, and must hold the route's scope. Every answer, the pages included, gets the
 * hardening headers (no framing, no sniffing, no referrer).
 */
export function registerAccess(app: FastifyInstance, guard: AccessGuard, sessions: SessionStore): void {
  secureAnswers(app.server);
  app.decorateRequest('principal', null);
  app.addHook('onRoute', (route) => {
    if ((route as { websocket?: boolean }).websocket === true)
      route.config = { ...route.config, websocket: true };
  });
  app.addHook('onRequest', async (request) => {
    const access = routeAccess(request);
    const upstream = request.routeOptions.config?.scopeCheckedUpstream === true;
    // 'public' refuses on Host, Origin and content type only: the token is looked at below.
    guard.check(request, 'public');
    // Only the stream takes an upgrade. On any other route (the public page and its files
    // included) the WebSocket library would accept the socket, then hold it open until the
    // client answers its close: sockets without a token and outside any limit.
    const upgrade = single(request.headers.upgrade)?.toLowerCase() === 'websocket';
    if (upgrade && request.routeOptions.config?.websocket !== true) {
      throw new AppError(
        'NOT_FOUND',
        `no WebSocket at ${request.url.split('?')[0]}; the live stream is /api/store/stream`,
      );
    }
    const own = single(request.headers.authorization);
    const sessionId =
      own === undefined ? readCookie(single(request.headers.cookie), SESSION_COOKIE) : undefined;
    const session = sessionId === undefined ? undefined : sessions.get(sessionId);
    const authorization = own ?? (session === undefined ? undefined : `Bearer ${session.token}`);
    const needsCaller = guard.enabled && (upstream || access !== 'public');
    if (needsCaller && authorization === undefined) {
      throw new AppError(
        'UNAUTHORIZED',
        sessionId === undefined
          ? 'log in to the dashboard, or send Authorization: Bearer <token>'
          : 'the session has expired or was logged out; log in again',
      );
    }
    request.principal = guard.authorize(authorization, upstream ? 'public' : access);
    if (needsCaller && request.principal === null) {
      throw new AppError('UNAUTHORIZED', 'the bearer token is not valid');
    }
    if (authorization !== undefined) credentials.set(request, authorization);
  });
  // @fastify/websocket answers a refused upgrade on the raw socket, outside the HTTP server's
  // bookkeeping, and leaves that socket open: each refusal would keep a file descriptor (and
  // `close()` would wait for it) until the client hangs up. Close it once the answer is out.
  app.addHook('onResponse', async (request, reply) => {
    if (request.headers.upgrade === undefined || reply.statusCode === 101) return;
    const socket = request.raw.socket;
    if (socket.destroyed) return;
    if (socket.writableFinished || !socket.writable) socket.destroy();
    else socket.end(() => socket.destroy());
  });
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
