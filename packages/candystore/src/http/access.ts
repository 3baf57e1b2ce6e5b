import {
  type AccessGuard,
  AppError,
  type Principal,
  type RouteAccess,
  routeAccess,
  secureAnswers,
} from '@33god/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller whose token was accepted; null when anonymous (or when no tokens are configured). */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    access?: RouteAccess;
    /** A WebSocket route (set from the route's `websocket` option): only these take an upgrade. */
    websocket?: boolean;
  }
}

/** Where only documentation is served: the OpenAPI UI's routes come from its plugin, unmarked. */
const DOCS_PREFIX = '/docs';

/** Marks the documentation routes public as they are added: call before their plugin is registered. */
export function markDocsPublic(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    if (route.url === DOCS_PREFIX || route.url.startsWith(`${DOCS_PREFIX}/`)) {
      route.config = { ...route.config, access: 'public' };
    }
  });
}

/**
 * Puts every request through the guard, the WebSocket upgrade of `/stream` included (it is a
 * GET route) and requests that match no route (closed by default). Call after the WebSocket
 * plugin is registered: its own hook marks an upgrade request first, so that the socket of an
 * upgrade refused here is closed after the answer instead of staying open, unparsed. Every
 * answer gets the hardening headers.
 */
export function guardRequests(app: FastifyInstance, guard: AccessGuard): void {
  secureAnswers(app.server);
  app.decorateRequest('principal', null);
  app.addHook('onRoute', (route) => {
    if ((route as { websocket?: boolean }).websocket === true)
      route.config = { ...route.config, websocket: true };
  });
  app.addHook('onRequest', async (request) => {
    request.principal = guard.check(request, routeAccess(request));
    // Only `/stream` takes an upgrade. On any other route the WebSocket library would accept
    // the socket, then hold it open until the client answers its close: sockets outside the
    // stream limits, for anyone who can reach a public route.
    if (isUpgrade(request) && request.routeOptions.config?.websocket !== true) {
      throw new AppError(
        'NOT_FOUND',
        `no WebSocket at ${request.url.split('?')[0]}; the live stream is /stream`,
      );
    }
  });
}

/** A WebSocket upgrade request (the header the guard reads too). */
function isUpgrade(request: FastifyRequest): boolean {
  const upgrade = request.headers.upgrade;
  return typeof upgrade === 'string' && upgrade.toLowerCase() === 'websocket';
}

/** Public routes answer anonymous callers with less when tokens are configured. */
export function seesDetail(guard: AccessGuard, request: FastifyRequest): boolean {
  return !guard.enabled || request.principal !== null;
}
