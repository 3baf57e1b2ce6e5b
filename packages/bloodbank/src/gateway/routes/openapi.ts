import { PROBLEM_JSON_SCHEMA } from '@33god/core';
/** JSON Schemas of the gateway's routes: they document the API (/openapi.json, /docs). */

export const envelopeSchema = {
  type: 'object',
  description: 'EventEnvelope; only event_type and payload are required here, the rest is filled.',
  required: ['event_type', 'payload'],
  properties: {
    event_id: { type: 'string', format: 'uuid' },
    event_type: { type: 'string', examples: ['test.event.created'] },
    timestamp: { type: 'string', format: 'date-time' },
    version: { type: 'string', examples: ['1.0.0'] },
    source: {
      type: 'object',
      properties: { app: { type: 'string' }, host: { type: 'string' }, trigger_type: { type: 'string' } },
      additionalProperties: { type: 'string' },
    },
    correlation_id: { type: ['string', 'null'], format: 'uuid' },
    causation_id: { type: ['string', 'null'], format: 'uuid' },
    payload: { type: 'object', additionalProperties: true, examples: [{ message: 'test' }] },
    traceparent: {
      type: 'string',
      description:
        'W3C traceparent; wins over the traceparent header. Malformed: 400 INVALID_TRACE_CONTEXT. Absent (and no header): a new trace.',
      examples: ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    },
    tracestate: {
      type: 'string',
      description: 'W3C tracestate (needs traceparent): at most 32 members, 512 characters',
    },
  },
  additionalProperties: true,
} as const;

export const acceptedSchema = {
  description: 'The broker confirmed the event.',
  type: 'object',
  properties: {
    event_id: { type: 'string' },
    event_type: { type: 'string' },
    correlation_id: { type: ['string', 'null'] },
    causation_id: { type: ['string', 'null'] },
  },
} as const;

export const batchAcceptedSchema = {
  description: 'The broker confirmed every event; ids in request order.',
  type: 'object',
  properties: {
    count: { type: 'integer' },
    event_ids: { type: 'array', items: { type: 'string' } },
    items: { type: 'array', items: acceptedSchema },
  },
} as const;

export const problemSchema = {
  description: 'RFC 9457 problem details (application/problem+json); errors lists each JSON pointer.',
  ...PROBLEM_JSON_SCHEMA,
} as const;

export const problemResponses = {
  '4xx': problemSchema,
  '5xx': problemSchema,
} as const;
