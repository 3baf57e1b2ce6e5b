import { AccessGuard, AppError, isAppError, SERVER_LIMITS, toProblem, type Violation } from '@33god/core';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import websocket from '@fastify/websocket';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  LogController,
} from 'fastify';
import { isTransientDbError } from '../storage/database.js';
import { guardRequests, markDocsPublic } from './access.js';
import type { ApiContext } from './context.js';
import { correlationRoutes } from './routes/correlations.js';
import { eventRoutes } from './routes/events.js';
import { operationsRoutes } from './routes/operations.js';
import { replayRoutes } from './routes/replays.js';
import { statsRoutes } from './routes/stats.js';
import { streamRoutes } from './routes/stream.js';
import { chainNodeSchema, problemSchema, storedEventSchema } from './schemas.js';

export interface ApiOptions {
  logger: FastifyBaseLogger;
  bodyLimit?: number;
  /** Who may call which route. Default: no tokens, loopback names only. */
  guard?: AccessGuard;
}

/** The HTTP API: routes, their JSON schemas (→ /openapi.json, /docs), problem+json errors. */
export async function buildApi(ctx: ApiContext, options: ApiOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...SERVER_LIMITS,
    loggerInstance: options.logger,
    // No line per request, as on the gateway and the dashboard: a URL's query string is the
    // caller's (a token pasted as `?access_token=` would land in the log). Errors are logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit ?? 64 * 1024,
    // unknown parameters must be errors, not silently removed
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: true } },
    routerOptions: { maxParamLength: 200 },
    // Malformed URLs (bad percent-encoding, over-long parameters) are rejected by the router
    // before the error handler runs; answer them with problem+json too.
    frameworkErrors: (err, req, reply) => {
      const problem = toProblem(toAppError(err as FastifyError), req.url.split('?')[0]);
      void (reply as FastifyReply).code(problem.status).type('application/problem+json').send(problem);
    },
  });
  // the API takes JSON only; any other body is a 415, not a string the schema then rejects
  app.removeContentTypeParser('text/plain');
  app.addSchema(storedEventSchema);
  app.addSchema(chainNodeSchema);
  app.addSchema(problemSchema);
  markDocsPublic(app);
  // Before the documentation plugins: a plugin takes the error handler in force when it is
  // registered, and the door's refusals on /docs must be problem+json too.
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const appErr = toAppError(err);
    if (appErr.code === 'INTERNAL') req.log.error({ err }, 'request failed');
    if (appErr.code === 'UNAUTHORIZED') void reply.header('www-authenticate', 'Bearer realm="candystore"');
    const problem = toProblem(appErr, req.url.split('?')[0]);
    void reply
      .code(problem.status as 400)
      .type('application/problem+json')
      .send(problem as never);
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Candystore',
        description: 'The 33GOD event store: query, correlation chains, live stream, replay.',
        version: '0.1.0',
      },
    },
    refResolver: { buildLocalReference: (json, _base, _frag, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  const guard = options.guard ?? new AccessGuard();
  guardRequests(app, guard);

  app.setNotFoundHandler((req, reply) => {
    const problem = toProblem(new AppError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`));
    void reply.code(404).type('application/problem+json').send(problem);
  });

  app.get('/openapi.json', { schema: { hide: true }, config: { access: 'public' } }, async () =>
    app.swagger(),
  );
  eventRoutes(app, ctx);
  correlationRoutes(app, ctx);
  statsRoutes(app, ctx);
  streamRoutes(app, ctx);
  replayRoutes(app, ctx);
  operationsRoutes(app, ctx, guard);
  return app;
}

function toAppError(err: FastifyError): AppError {
  if (isAppError(err)) return err;
  if (err.validation) {
    const violations: Violation[] = err.validation.map((v) => {
      const extra = (v.params as { additionalProperty?: string }).additionalProperty;
      const pointer = `${v.instancePath}${extra ? `/${extra}` : ''}`;
      return { pointer, message: extra ? 'unknown field' : (v.message ?? 'invalid'), keyword: v.keyword };
    });
    return new AppError('INVALID_REQUEST', `invalid ${err.validationContext ?? 'request'}`, { violations });
  }
  if (
    err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
    err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ||
    err instanceof SyntaxError
  ) {
    return new AppError('MALFORMED_JSON', 'the request body is not valid JSON');
  }
  if (err.statusCode === 413) return new AppError('BODY_TOO_LARGE');
  if (err.statusCode === 415) return new AppError('UNSUPPORTED_MEDIA_TYPE', 'send application/json');
  if (isTransientDbError(err))
    return new AppError('DATABASE_UNAVAILABLE', 'the database is not reachable; try again');
  const pgCode = (err as { code?: unknown }).code;
  // data errors the validators did not foresee are still the client's input, never a 500
  if (typeof pgCode === 'string' && /^22/.test(pgCode))
    return new AppError('INVALID_FILTER', 'a value is out of range');
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return new AppError('INVALID_REQUEST', 'the request could not be understood');
  }
  return new AppError('INTERNAL', 'the server could not complete the request');
}
