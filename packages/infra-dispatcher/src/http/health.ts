import {
  AccessGuard,
  AppError,
  isAppError,
  type Principal,
  type RouteAccess,
  routeAccess,
  SERVER_LIMITS,
  secureAnswers,
  toProblem,
} from '@33god/core';
import Fastify, { type FastifyInstance, type FastifyReply, LogController } from 'fastify';
import type { DispatchStats } from '../dispatcher/pipeline.js';
import type { DispatchStateStore } from '../state/dispatch-state.js';

/**
 * `/health` answers 200 only when the dispatcher can do its job: the bus is connected
 * and the state file can be written (without it, a dispatch could not be recorded and
 * would be repeated). Otherwise 503, with what is wrong. It is public; once tokens are
 * configured, a caller without one gets the status alone (the report names the state
 * file's path, the queue and the last error).
 */

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
}

export interface HealthSources {
  /** `connected`, `connecting`, `disconnected`, `closed` (the transport's state). */
  busState(): string;
  readonly state: DispatchStateStore;
  readonly stats: Readonly<DispatchStats>;
  readonly queue: string;
}

export interface HealthReport {
  status: 'ok' | 'degraded';
  bus: { state: string; queue: string };
  state_file: { path: string; writable: boolean; unsaved_changes: boolean; last_write_error: string | null };
  handled: number;
  dispatched: number;
  skipped: number;
  ignored: number;
  failed: number;
  last_dispatch: DispatchStats['lastDispatch'];
  last_error: DispatchStats['lastError'];
}

export async function healthReport(src: HealthSources): Promise<HealthReport> {
  const busState = src.busState();
  const writable = await src.state.writable();
  const ok = busState === 'connected' && writable && !src.state.unsaved;
  return {
    status: ok ? 'ok' : 'degraded',
    bus: { state: busState, queue: src.queue },
    state_file: {
      path: src.state.path,
      writable,
      unsaved_changes: src.state.unsaved,
      last_write_error: src.state.lastError?.message ?? null,
    },
    handled: src.stats.handled,
    dispatched: src.stats.dispatched,
    skipped: src.stats.skipped,
    ignored: src.stats.ignored,
    failed: src.stats.failed,
    last_dispatch: src.stats.lastDispatch,
    last_error: src.stats.lastError,
  };
}

/** `guard`: who may call (default: no tokens, loopback names only). */
export function buildHealthServer(
  src: HealthSources,
  logLevel = 'info',
  guard: AccessGuard = new AccessGuard(),
): FastifyInstance {
  const app = Fastify({
    ...SERVER_LIMITS,
    logger: { level: logLevel, name: 'infra-dispatcher' },
    // No line per request (the dashboard probes /health every few seconds, and a URL's query
    // string is the caller's, a pasted token included); errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    // Malformed URLs are refused by the router before the error handler runs: problem+json too.
    frameworkErrors: (_err, _req, reply) => {
      const problem = toProblem(new AppError('INVALID_REQUEST', 'the request URL could not be read'));
      void (reply as FastifyReply).code(problem.status).type('application/problem+json').send(problem);
    },
  });
  // Every request, unknown paths included (closed by default: 401 without a token); every
  // answer with the hardening headers.
  secureAnswers(app.server);
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    request.principal = guard.check(request, routeAccess(request));
  });
  app.setErrorHandler((err, req, reply) => {
    if (isAppError(err) && err.code === 'UNAUTHORIZED') {
      void reply.header('www-authenticate', 'Bearer realm="infra-dispatcher"');
    }
    const problem = toProblem(err, req.url);
    void reply.code(problem.status).type('application/problem+json').send(problem);
  });
  app.setNotFoundHandler((req, reply) => {
    const problem = toProblem(new AppError('NOT_FOUND', `no route ${req.method} ${req.url}`), req.url);
    void reply.code(404).type('application/problem+json').send(problem);
  });
  app.get('/health', { config: { access: 'public' } }, async (req, reply) => {
    const report = await healthReport(src);
    const detail = !guard.enabled || req.principal !== null;
    return reply.code(report.status === 'ok' ? 200 : 503).send(detail ? report : { status: report.status });
  });
  return app;
}
