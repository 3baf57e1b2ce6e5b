import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type AccessConfig,
  AccessGuard,
  AppError,
  defaultRegistryPath,
  OPEN_ACCESS,
  SERVER_LIMITS,
  urlForBind,
} from '@33god/core';
import fastifyStatic from '@fastify/static';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import { parseTraceUrl } from './config.js';
import { registerAccess } from './http/access.js';
import { sendProblem } from './http/problem.js';
import { httpProxy } from './http/proxy.js';
import { probeServices, type ServiceHealth } from './http/service-health.js';
import { registerStreamProxy, type StreamProxyOptions } from './http/stream-proxy.js';
import { RegistryCache } from './registry/load-registry.js';
import type { Registry } from './registry/types.js';
import { registerSessionRoutes } from './session/routes.js';
import { SessionStore } from './session/store.js';

export interface CandybarOptions {
  /** Default 3000; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1; beyond loopback only with tokens (or `allowUnauthenticated`). */
  host?: string;
  /** Tokens and allowlists (`accessConfigFromEnv`); none: no login, loopback only. */
  access?: AccessConfig;
  /** A login unused for this long ends (ms). Default 12 h. */
  sessionIdleMs?: number;
  /** Most logins kept at once; beyond it the least recently used ends. Default 1000. */
  maxSessions?: number;
  storeUrl?: string;
  busUrl?: string;
  registryPath?: string;
  /** The built web app. Default: this package's `web/dist`. */
  staticDir?: string;
  /** Per-request timeout for proxied calls (ms). */
  proxyTimeoutMs?: number;
  /** Per-service timeout of the health probes (ms). */
  healthTimeoutMs?: number;
  logLevel?: string;
  /** An external trace UI: a URL template with `{trace_id}` (CANDYBAR_TRACE_URL). */
  traceUrl?: string;
  /** Bounds on what the live stream queues for slow browsers (see `StreamProxyOptions`). */
  streamBuffer?: Pick<StreamProxyOptions, 'maxBufferedBytes' | 'maxTotalBufferedBytes' | 'checkMs'>;
}

export interface CandybarServer {
  url: string;
  port: number;
  app: FastifyInstance;
  close(): Promise<void>;
}

export const DEFAULT_STATIC_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'web', 'dist');

/** The dashboard: the built single-page app plus a small same-origin backend. */
export async function startCandybar(options: CandybarOptions = {}): Promise<CandybarServer> {
  const storeUrl = options.storeUrl ?? 'http://127.0.0.1:8080';
  const busUrl = options.busUrl ?? 'http://127.0.0.1:8682';
  const registryPath = resolve(options.registryPath ?? defaultRegistryPath());
  const staticDir = resolve(options.staticDir ?? DEFAULT_STATIC_DIR);
  const proxyTimeoutMs = options.proxyTimeoutMs ?? 10_000;
  const healthTimeoutMs = options.healthTimeoutMs ?? 1500;
  const traceUrl = options.traceUrl === undefined ? null : parseTraceUrl(options.traceUrl);

  // Errors are logged by the error handler; a line per request (the page polls every few
  // hundred ms) would bury them.
  const app = Fastify({
    ...SERVER_LIMITS,
    logger: { level: options.logLevel ?? 'silent', name: 'candybar' },
    logController: new LogController({ disableRequestLogging: true }),
    // Malformed URLs (bad percent-encoding) are refused by the router before the error handler
    // runs; answer them with problem+json too, not Fastify's own JSON.
    frameworkErrors: (_err, req, reply) =>
      sendProblem(reply, new AppError('INVALID_REQUEST', 'the request URL could not be read'), req.url),
  });
  const host = options.host ?? '127.0.0.1';
  const guard = new AccessGuard(options.access ?? OPEN_ACCESS);
  guard.bind('Candybar', host, 'CANDYBAR_HOST', (message) => app.log.warn(message));
  const sessions = new SessionStore({
    ...(options.sessionIdleMs === undefined ? {} : { idleMs: options.sessionIdleMs }),
    ...(options.maxSessions === undefined ? {} : { max: options.maxSessions }),
  });
  app.setErrorHandler((err, req, reply) => {
    const status = (err as { statusCode?: number }).statusCode;
    if (!(err instanceof AppError) && status !== undefined && status >= 400 && status < 500) {
      // Fastify's own rejections (oversized body, bad JSON) in the catalogue's words.
      const code =
        status === 413 ? 'BODY_TOO_LARGE' : status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'INVALID_REQUEST';
      return sendProblem(reply, new AppError(code, (err as Error).message), req.url);
    }
    if (!(err instanceof AppError)) req.log.error({ err }, 'request failed');
    return sendProblem(reply, err, req.url);
  });

  registerAccess(app, guard, sessions);
  // The browser sends nothing on the stream; a frame is bounded as on Candystore's own socket
  // (the library's default would buffer up to 100 MiB per message).
  await app.register(fastifyWebsocket, { options: { maxPayload: 64 * 1024 } });
  registerSessionRoutes(app, guard, sessions);
  registerStreamProxy(app, { storeUrl, ...options.streamBuffer });
  await app.register(httpProxy, {
    prefix: '/api/store',
    name: 'Candystore',
    target: storeUrl,
    timeoutMs: proxyTimeoutMs,
  });
  await app.register(httpProxy, {
    prefix: '/api/bus',
    name: 'Bloodbank gateway',
    target: busUrl,
    timeoutMs: proxyTimeoutMs,
  });

  const registry = new RegistryCache(registryPath);
  // Warm the cache so the first page load does not wait for it; a broken file is reported per request.
  await registry.get().catch(() => undefined);
  app.get('/api/registry', { config: { access: 'read' } }, async (_req, reply) => {
    reply.header('cache-control', 'no-store');
    return registry.get();
  });

  let healthCache: { at: number; body: { checked_at: string; services: ServiceHealth[] } } | null = null;
  app.get('/api/health/services', { config: { access: 'read' } }, async (_req, reply) => {
    reply.header('cache-control', 'no-store');
    // Several open tabs should not multiply the probes.
    if (healthCache && Date.now() - healthCache.at < 2000) return healthCache.body;
    const reg: Registry = await registry.get();
    const body = {
      checked_at: new Date().toISOString(),
      services: await probeServices(reg, healthTimeoutMs),
    };
    healthCache = { at: Date.now(), body };
    return body;
  });

  app.get('/api/info', { config: { access: 'read' } }, async () => ({
    store_url: storeUrl,
    bus_url: busUrl,
    registry_path: registryPath,
    trace_url: traceUrl,
  }));

  // Liveness only: what the backends say is behind `read` (/api/health/services, the proxies).
  app.get('/health', { config: { access: 'public' } }, async (_req, reply) => {
    reply.header('cache-control', 'no-store');
    return { status: 'ok' };
  });

  // The app and its files are public: the page is what asks for the login. Its `/*` route also
  // serves deep links (through the not-found handler below).
  const haveBuild = existsSync(join(staticDir, 'index.html'));
  if (haveBuild) {
    await app.register(async (assets) => {
      assets.addHook('onRoute', (route) => {
        route.config = { ...route.config, access: 'public' };
      });
      await assets.register(fastifyStatic, { root: staticDir, prefix: '/', wildcard: true });
    });
  } else {
    app.get('/', { config: { access: 'public' } }, async (_req, reply) =>
      reply
        .type('text/html')
        .send(
          '<!doctype html><title>Candybar</title><p>The dashboard has not been built: run <code>npm run build</code> at the repository root.</p>',
        ),
    );
  }
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0] ?? '';
    // Deep links into the app get index.html; API paths and files get a 404 problem.
    if (haveBuild && req.method === 'GET' && !path.startsWith('/api/') && !/\.[a-z0-9]+$/i.test(path)) {
      return reply.type('text/html').sendFile('index.html');
    }
    return sendProblem(reply, new AppError('NOT_FOUND', `no route for ${req.method} ${path}`), req.url);
  });

  await app.listen({ port: options.port ?? 3000, host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 3000);
  const url = urlForBind(typeof address === 'object' && address ? address.address : host, port);
  return {
    url,
    port,
    app,
    close: async () => {
      await app.close();
    },
  };
}
