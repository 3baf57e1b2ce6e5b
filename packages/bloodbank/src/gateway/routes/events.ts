import {
  AppError,
  binaryHttpToEnvelope,
  cloudEventToEnvelope,
  type EventEnvelope,
  envelopeErrorCode,
  hasBinaryCloudEventHeaders,
  type Principal,
  type Violation,
} from '@33god/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  acceptedId,
  completeChecked,
  envelopeViolations,
  requestTrace,
  toEnvelope,
} from '../envelope-input.js';
import { batchRefusal, type Entry, type PolicyCode, type PublishPipeline } from '../pipeline.js';
import { acceptedSchema, batchAcceptedSchema, envelopeSchema, problemResponses } from './openapi.js';

export interface EventRoutesOptions {
  pipeline: PublishPipeline;
  batchMax: number;
  /** `source.app` for events that name none and come from an anonymous caller (tokens off). */
  defaultApp: string;
}

interface Accepted {
  event_id: string;
  event_type: string;
  correlation_id: string | null;
  causation_id: string | null;
}

const accepted = (e: EventEnvelope): Accepted => ({
  event_id: e.event_id,
  event_type: e.event_type,
  correlation_id: e.correlation_id,
  causation_id: e.causation_id ?? null,
});

function mediaType(request: FastifyRequest): string {
  return (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

function requireBody(request: FastifyRequest): unknown {
  if (request.body === undefined) {
    if (request.headers['content-type'] === undefined) {
      throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'send a JSON body with Content-Type: application/json');
    }
    throw new AppError('MALFORMED_JSON', 'the body is empty');
  }
  return request.body;
}

function echoIds(reply: FastifyReply, e: { correlation_id: string | null; causation_id?: string | null }) {
  if (e.correlation_id) reply.header('x-correlation-id', e.correlation_id);
  if (e.causation_id) reply.header('x-causation-id', e.causation_id);
}

export async function eventRoutes(app: FastifyInstance, o: EventRoutesOptions): Promise<void> {
  const { pipeline } = o;
  const context = (request: FastifyRequest, principal: Principal | null) => ({
    correlationId: acceptedId(request.headers['x-correlation-id']),
    causationId: acceptedId(request.headers['x-causation-id']),
    // With tokens on, an event speaks for its caller: the pipeline refuses any other source.app.
    app: principal?.name ?? o.defaultApp,
  });
  const entry = (principal: Principal | null): Entry => ({ via: 'caller', principal });

  const publishOne = async (request: FastifyRequest, reply: FastifyReply, input: () => unknown) => {
    const principal = pipeline.authenticate(request);
    const envelope = toEnvelope(input(), context(request, principal));
    await pipeline.submit(envelope, entry(principal), requestTrace(request.headers));
    echoIds(reply, envelope);
    return reply.code(202).send(accepted(envelope));
  };

  app.post(
    '/events',
    {
      config: { access: 'publish' },
      schema: {
        summary: 'Publish one event',
        description:
          'An EventEnvelope (application/json), a structured CloudEvent (application/cloudevents+json) or a binary CloudEvent (ce-* headers, JSON data). event_id, timestamp, version, source and correlation_id are filled when absent. Answers 202 once the broker confirmed the publish.',
        tags: ['events'],
        body: envelopeSchema,
        response: { 202: acceptedSchema, ...problemResponses },
      },
    },
    (request, reply) =>
      publishOne(request, reply, () => {
        const body = requireBody(request);
        if (mediaType(request) === 'application/cloudevents+json') {
          return cloudEventToEnvelope(asObject(body, 'a CloudEvent'));
        }
        if (hasBinaryCloudEventHeaders(request.headers)) return binaryHttpToEnvelope(request.headers, body);
        return body;
      }),
  );

  app.post(
    '/publish',
    {
      config: { access: 'publish' },
      schema: {
        summary: 'Publish one event (the seed form)',
        description:
          'The original gateway\'s form: {"event_type": ..., "payload": ...}, optionally with correlation_id and the other envelope members. Same answers as POST /events.',
        tags: ['events'],
        body: envelopeSchema,
        response: { 202: acceptedSchema, ...problemResponses },
      },
    },
    (request, reply) => publishOne(request, reply, () => requireBody(request)),
  );

  app.post(
    '/events/batch',
    {
      config: { access: 'publish' },
      schema: {
        summary: 'Publish a batch of events',
        description: `A JSON array of envelopes, NDJSON (application/x-ndjson, one envelope a line) or a CloudEvents batch (application/cloudevents-batch+json). At most ${o.batchMax} events. Validated all-or-nothing: one bad event refuses the batch with every violation (403 when one is refused by the policy, e.g. a webhook type). Published with pipelined confirms; answers the ids in order.`,
        tags: ['events'],
        body: { type: 'array', items: envelopeSchema },
        response: { 202: batchAcceptedSchema, ...problemResponses },
      },
    },
    async (request, reply) => {
      const principal = pipeline.authenticate(request);
      const body = requireBody(request);
      if (!Array.isArray(body)) {
        throw new AppError('INVALID_REQUEST', 'a batch is a JSON array or NDJSON of event envelopes');
      }
      if (body.length === 0) throw new AppError('INVALID_REQUEST', 'the batch is empty');
      if (body.length > o.batchMax) {
        throw new AppError('BATCH_TOO_LARGE', `${body.length} events; at most ${o.batchMax} per batch`, {
          extra: { max: o.batchMax },
        });
      }
      const cloudEvents = mediaType(request) === 'application/cloudevents-batch+json';
      const ctx = context(request, principal);
      const from = entry(principal);
      const violations: Violation[] = [];
      const refused = new Set<PolicyCode>();
      let envelopeLevel = false;
      const envelopes: EventEnvelope[] = [];
      body.forEach((item, i) => {
        let input: unknown = item;
        if (cloudEvents) {
          try {
            input = cloudEventToEnvelope(asObject(item, 'a CloudEvent'));
          } catch (err) {
            if (!(err instanceof AppError)) throw err;
            envelopeLevel = true;
            for (const v of err.violations) violations.push({ ...v, pointer: `/${i}${v.pointer}` });
            if (err.violations.length === 0)
              violations.push({ pointer: `/${i}`, message: err.detail ?? err.title });
            return;
          }
        }
        const bad = envelopeViolations(input, `/${i}`);
        if (bad.length > 0) {
          envelopeLevel = true;
          violations.push(...bad);
          return;
        }
        const envelope = completeChecked(input as Partial<EventEnvelope>, ctx);
        const verdict = pipeline.check(envelope, from, `/${i}`);
        if (verdict.refused !== null) refused.add(verdict.refused);
        violations.push(...verdict.violations);
        envelopes.push(envelope);
      });
      if (violations.length > 0) {
        // An event the policy refuses makes the batch a 403 (with every event's pointers).
        throw new AppError(
          batchRefusal(refused) ?? (envelopeLevel ? envelopeErrorCode(violations) : 'SCHEMA_VIOLATION'),
          `${new Set(violations.map((v) => v.pointer.split('/')[1])).size} of ${body.length} events are not valid; nothing was published`,
          { violations },
        );
      }
      const trace = requestTrace(request.headers);
      const results = await Promise.allSettled(envelopes.map((e) => pipeline.publish(e, trace)));
      const failed = results.findIndex((r) => r.status === 'rejected');
      if (failed >= 0) {
        const reason = (results[failed] as PromiseRejectedResult).reason;
        const published = envelopes
          .filter((_, i) => results[i]!.status === 'fulfilled')
          .map((e) => e.event_id);
        throw new AppError(
          reason instanceof AppError ? reason.code : 'BROKER_UNAVAILABLE',
          `${published.length} of ${envelopes.length} events were published before the broker failed; retry the rest (their ids are stable)`,
          {
            cause: reason,
            extra: {
              published,
              not_published: envelopes
                .filter((_, i) => results[i]!.status === 'rejected')
                .map((e) => e.event_id),
            },
          },
        );
      }
      reply.code(202);
      return {
        count: envelopes.length,
        event_ids: envelopes.map((e) => e.event_id),
        items: envelopes.map(accepted),
      };
    },
  );
}

function asObject(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new AppError('INVALID_CLOUDEVENT', `the body must be ${what} (a JSON object)`);
  }
  return value as Record<string, unknown>;
}
