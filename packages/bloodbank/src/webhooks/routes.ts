import { AppError } from '@33god/core';
import type { FastifyInstance } from 'fastify';
import { problemResponses } from '../gateway/routes/openapi.js';
import type { WebhookIngestor } from './ingest.js';

/**
 * Least body a webhook route accepts: GitHub's cap on a delivery (25 MB; larger events are
 * not sent at all). GitHub does not redeliver a refused delivery by itself, so a push with
 * many commits refused by the gateway's general limit (1 MiB by default) would be lost.
 * A larger BLOODBANK_BODY_LIMIT raises it further.
 */
export const WEBHOOK_BODY_LIMIT = 25 * 1024 * 1024;

/**
 * Most webhook body bytes being received at once, all deliveries together. A body is read
 * whole before its signature can be checked, so without it anyone who can reach the route
 * could hold 25 MiB per connection; past it a delivery is refused at once with 503 and
 * Retry-After, before a byte of its body is read. A body without a Content-Length is counted
 * at the route's limit, since nothing says how much of it will come.
 */
export const WEBHOOK_BYTES_IN_FLIGHT = 64 * 1024 * 1024;

/**
 * `POST /webhooks/:provider`. Registered in its own encapsulated scope whose only body
 * parser keeps the raw bytes: the HMAC must be computed over exactly what was sent.
 */
export async function webhookRoutes(
  app: FastifyInstance,
  o: { ingestor: WebhookIngestor; onRejected?: (code: string) => void },
): Promise<void> {
  const bodyLimit = Math.max(app.initialConfig.bodyLimit ?? 0, WEBHOOK_BODY_LIMIT);
  let inFlight = 0;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.post<{ Params: { provider: string } }>(
    '/webhooks/:provider',
    {
      // The provider's HMAC over the body is the credential: no token, no JSON content type.
      config: { access: 'signed' },
      bodyLimit,
      onRequest: (request, reply, done) => {
        const declared = Number(request.headers['content-length']);
        const bytes =
          Number.isSafeInteger(declared) && declared >= 0 ? Math.min(declared, bodyLimit) : bodyLimit;
        if (inFlight + bytes > WEBHOOK_BYTES_IN_FLIGHT) {
          done(
            new AppError(
              'SERVICE_UNAVAILABLE',
              `webhook bodies being received at once are at their bound (${WEBHOOK_BYTES_IN_FLIGHT} bytes); retry shortly`,
            ),
          );
          return;
        }
        inFlight += bytes;
        reply.raw.once('close', () => {
          inFlight -= bytes;
        });
        done();
      },
      schema: {
        summary: 'Receive a signed webhook (Plane, GitHub)',
        description:
          'Verifies the provider signature over the raw body, deduplicates on a signed delivery key (the delivery id in the body, else the body digest) and publishes webhook.<provider>.<event>[.<action>] with the body as payload (a form-encoded GitHub delivery: its `payload` field): the only way a webhook event enters the bus. 202 when published, 200 {duplicate: true} for a redelivery.',
        tags: ['webhooks'],
        params: {
          type: 'object',
          properties: { provider: { type: 'string', enum: o.ingestor.providers.map((p) => p.id) } },
        },
        response: problemResponses,
      },
    },
    async (request, reply) => {
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const result = await o.ingestor.ingest(request.params.provider, raw, request.headers);
      reply.code(result.status);
      return {
        event_id: result.event_id,
        event_type: result.event_type,
        delivery_id: result.delivery_id,
        duplicate: result.duplicate,
      };
    },
  );
}
