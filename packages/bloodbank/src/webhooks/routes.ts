import type { FastifyInstance } from 'fastify';
import { problemResponses } from '../gateway/routes/openapi.js';
import type { WebhookIngestor } from './ingest.js';

/**
 * `POST /webhooks/:provider`. Registered in its own encapsulated scope whose only body
 * parser keeps the raw bytes: the HMAC must be computed over exactly what was sent.
 */
export async function webhookRoutes(
  app: FastifyInstance,
  o: { ingestor: WebhookIngestor; onRejected?: (code: string) => void },
): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.post<{ Params: { provider: string } }>(
    '/webhooks/:provider',
    {
      // The provider's HMAC over the body is the credential: no token, no JSON content type.
      config: { access: 'signed' },
      schema: {
        summary: 'Receive a signed webhook (Plane, GitHub)',
        description:
          'Verifies the provider signature over the raw body, deduplicates on a signed delivery key (the delivery id in the body, else the body digest) and publishes webhook.<provider>.<event>.<action> with the body as payload: the only way a webhook event enters the bus. 202 when published, 200 {duplicate: true} for a redelivery.',
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
