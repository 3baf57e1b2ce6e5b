import type { AccessGuard, Principal, RouteAccess } from '@33god/core';
import { routeAccess, secureAnswers } from '@33god/core';
import type { FastifyInstance } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller the door admitted; null when anonymous (auth off, or a public or signed route). */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** What the route needs (`@33god/core`'s `routeAccess`): undeclared is `read` for GET, else `operate`. */
    access?: RouteAccess;
  }
}

/**
 * Puts the shared door in front of every route of `app`, 404s included, and the hardening
 * headers on every answer. Call before any route is registered. Errors thrown here go through
 * the app's problem+json error handler.
 */
export function guardRoutes(app: FastifyInstance, guard: AccessGuard): void {
  secureAnswers(app.server);
  app.decorateRequest('principal', null);
  // A callback hook rather than an async one: it runs on every publish, and a promise per
  // request is measurable there.
  app.addHook('onRequest', (request, _reply, done) => {
    try {
      request.principal = guard.check(request, routeAccess(request));
    } catch (err) {
      done(err as Error);
      return;
    }
    done();
  });
}

/**
 * Marks every route registered inside `app` (a plugin scope) with `access`: for plugins that
 * register their own routes, such as the OpenAPI UI and its static files.
 */
export function markRoutes(app: FastifyInstance, access: RouteAccess): void {
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, access };
  });
}
