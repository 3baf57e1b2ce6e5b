import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { forwardedAuthorization } from './access.js';
import { sendProblem, unavailable } from './problem.js';

export interface ProxyOptions {
  /** Display name for errors ("Candystore"). */
  name: string;
  /** Base URL of the backend. */
  target: string;
  timeoutMs: number;
}

// Never Origin, Cookie or Host: Candybar checked them, and the backend would refuse the
// dashboard's origin as a foreign one. The caller's credential is added on its own.
const FORWARD_REQUEST_HEADERS = ['content-type', 'accept', 'ce-id', 'ce-type', 'ce-source', 'ce-specversion'];
const FORWARD_RESPONSE_HEADERS = [
  'content-type',
  'cache-control',
  'location',
  'retry-after',
  'www-authenticate',
];

/**
 * Forwards every request under the plugin's prefix to the backend with plain fetch, so
 * the browser talks to one origin. Bodies pass through untouched (the backend validates
 * them); a backend that is down or slow becomes a 503 problem, never a hanging request.
 * Reads need the `read` scope here; for the rest the backend decides which scope, and Candybar
 * asks only for a caller it knows, whose credential it passes on.
 */
export const httpProxy: FastifyPluginAsync<ProxyOptions> = async (app: FastifyInstance, opts) => {
  const base = opts.target.replace(/\/+$/, '');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 5 * 1024 * 1024 }, (_req, body, done) => {
    done(null, body);
  });
  const forward = async (req: FastifyRequest, reply: FastifyReply) => {
    const rest = (req.params as { '*': string })['*'] ?? '';
    const qIndex = req.raw.url?.indexOf('?') ?? -1;
    const query = qIndex >= 0 ? (req.raw.url ?? '').slice(qIndex) : '';
    const url = `${base}/${rest}${query}`;
    const headers: Record<string, string> = {};
    for (const h of FORWARD_REQUEST_HEADERS) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    const authorization = forwardedAuthorization(req);
    if (authorization !== undefined) headers.authorization = authorization;
    const body = Buffer.isBuffer(req.body) && req.body.length > 0 ? req.body : undefined;
    let res: Response;
    let payload: Buffer;
    try {
      res = await fetch(url, {
        method: req.method,
        headers,
        body: body === undefined ? undefined : new Uint8Array(body),
        redirect: 'manual',
        signal: AbortSignal.timeout(opts.timeoutMs),
      });
      payload = Buffer.from(await res.arrayBuffer());
    } catch (err) {
      return sendProblem(reply, unavailable(opts.name, base, err), req.url);
    }
    reply.code(res.status);
    for (const h of FORWARD_RESPONSE_HEADERS) {
      const v = res.headers.get(h);
      if (v !== null) reply.header(h, v);
    }
    return reply.send(payload);
  };
  app.get('/*', { config: { access: 'read' } }, forward);
  app.route({
    method: ['POST', 'PUT', 'PATCH', 'DELETE'],
    url: '/*',
    config: { access: 'public', scopeCheckedUpstream: true },
    handler: forward,
  });
};
