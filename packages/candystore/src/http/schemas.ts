import { PROBLEM_JSON_SCHEMA } from '@33god/core';

/** JSON schemas of the HTTP API (they feed /openapi.json and shape the responses). */

const anyObject = { type: 'object', additionalProperties: true } as const;

export const storedEventSchema = {
  $id: 'StoredEvent',
  type: 'object',
  required: [
    'position',
    'event_id',
    'event_type',
    'timestamp',
    'version',
    'source',
    'correlation_id',
    'causation_id',
    'payload',
    'routing_key',
    'headers',
    'received_at',
    'replay_id',
    'trace_id',
  ],
  properties: {
    position: { type: 'string', description: 'Global store position (a 64-bit integer as a string)' },
    event_id: { type: 'string', format: 'uuid' },
    event_type: { type: 'string' },
    timestamp: { type: 'string', format: 'date-time' },
    version: { type: 'string' },
    source: anyObject,
    correlation_id: { type: ['string', 'null'] },
    causation_id: { type: ['string', 'null'] },
    payload: anyObject,
    routing_key: { type: 'string' },
    headers: anyObject,
    received_at: { type: 'string', format: 'date-time' },
    replay_id: {
      type: ['string', 'null'],
      description: 'Set when the event first arrived as a replayed copy',
    },
    trace_id: {
      type: ['string', 'null'],
      description: "W3C trace id of the event's traceparent (32 hex digits); null without one",
    },
    traceparent: { type: 'string', description: 'W3C Trace Context traceparent, as stored' },
    tracestate: { type: 'string', description: 'W3C Trace Context tracestate, as stored' },
  },
} as const;

export const problemSchema = {
  $id: 'Problem',
  description: 'RFC 9457 problem details',
  ...PROBLEM_JSON_SCHEMA,
} as const;

const ref = (id: string) => ({ $ref: `${id}#` });

export const problems = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, { ...ref('Problem'), description: 'problem+json' }]));

const filterProps = {
  type: { type: 'string', description: 'Event type, or a topic pattern with * (one word) and # (any words)' },
  source: { type: 'string', description: 'source.app' },
  correlation_id: { type: 'string', description: 'UUID' },
  causation_id: { type: 'string', description: 'UUID' },
  trace_id: { type: 'string', description: 'W3C trace id (32 hex digits)' },
} as const;

const payloadParams = {
  '^payload\\.': {
    anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
    description:
      'payload.<dot.path>=value; repeatable; matches the string, or the number/boolean/null it spells',
  },
} as const;

export const listEventsSchema = {
  summary: 'Query stored events (keyset pagination)',
  tags: ['events'],
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ...filterProps,
      since: { type: 'string', description: 'RFC 3339; event time, inclusive' },
      until: { type: 'string', description: 'RFC 3339; event time, exclusive' },
      limit: { type: 'string', description: '1–1000, default 50' },
      cursor: { type: 'string', description: 'Opaque; from next_cursor or prev_cursor' },
      order: { type: 'string', enum: ['desc', 'asc'], description: 'desc (newest first, default) or asc' },
    },
    patternProperties: payloadParams,
  },
  response: {
    200: {
      type: 'object',
      required: ['items', 'next_cursor', 'prev_cursor'],
      properties: {
        items: { type: 'array', items: ref('StoredEvent') },
        next_cursor: { type: ['string', 'null'] },
        prev_cursor: { type: ['string', 'null'] },
      },
    },
    ...problems(400, 503),
  },
} as const;

export const getEventSchema = {
  summary: 'One event by id',
  tags: ['events'],
  params: { type: 'object', properties: { event_id: { type: 'string' } } },
  response: { 200: ref('StoredEvent'), ...problems(400, 404, 503) },
} as const;

const chainNode = {
  $id: 'ChainNode',
  type: 'object',
  required: ['event', 'event_id', 'children', 'missing', 'delta_ms'],
  properties: {
    event: { anyOf: [ref('StoredEvent'), { type: 'null' }] },
    event_id: { type: 'string' },
    children: { type: 'array', items: ref('ChainNode') },
    missing: { type: 'boolean', description: 'A parent that was never stored' },
    delta_ms: { type: ['number', 'null'], description: 'Milliseconds since the parent' },
  },
} as const;
export const chainNodeSchema = chainNode;

export const correlationSchema = {
  summary: 'A correlation group as a causation tree and a timeline, with gaps',
  tags: ['events'],
  params: { type: 'object', properties: { correlation_id: { type: 'string' } } },
  response: {
    200: {
      type: 'object',
      properties: {
        correlation_id: { type: 'string' },
        count: { type: 'integer' },
        truncated: { type: 'boolean' },
        roots: { type: 'array', items: ref('ChainNode') },
        timeline: { type: 'array', items: ref('StoredEvent') },
        gaps: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              missing_event_id: { type: 'string' },
              referenced_by: { type: 'array', items: { type: 'string' } },
            },
          },
        },
      },
    },
    ...problems(400, 404, 503),
  },
} as const;

const bucketItem = {
  type: 'object',
  properties: { bucket: { type: 'string' }, key: { type: 'string' }, count: { type: 'integer' } },
} as const;

export const statsSchema = {
  summary: 'Event counts by type and by source, in time buckets',
  tags: ['stats'],
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      since: { type: 'string', description: 'RFC 3339; default: until − 24 h' },
      until: { type: 'string', description: 'RFC 3339; default: now' },
      bucket: { type: 'string', description: 'bucket width in seconds (default: about 60 buckets)' },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: {
        since: { type: 'string' },
        until: { type: 'string' },
        bucket_seconds: { type: 'integer' },
        total: { type: 'integer' },
        by_type: { type: 'array', items: bucketItem },
        by_source: { type: 'array', items: bucketItem },
      },
    },
    ...problems(400, 503),
  },
} as const;

export const streamSchema = {
  summary:
    'WebSocket: {kind:"event",event} in position order, one {kind:"caught_up",position} at the switch to live, {kind:"heartbeat",position}; with batch=true a frame may be a JSON array of these',
  tags: ['stream'],
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ...filterProps,
      payload_text: { type: 'string', description: 'case-insensitive substring of the payload JSON' },
      from: { type: 'string', description: "a position (events after it) or 'now' (default)" },
      batch: {
        type: 'string',
        enum: ['true', 'false'],
        description: 'true: a frame may carry a JSON array of messages (one commit batch or catch-up page)',
      },
    },
    patternProperties: payloadParams,
  },
} as const;

const replayInfo = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    status: { type: 'string', enum: ['running', 'completed', 'cancelled', 'failed'] },
    total: { type: 'integer' },
    published: { type: 'integer' },
    started_at: { type: 'string' },
    finished_at: { type: ['string', 'null'] },
    error: { type: 'string' },
  },
} as const;

export const postReplaySchema = {
  summary: 'Replay stored events to an exchange (original routing keys) or a queue',
  tags: ['replays'],
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['target'],
    properties: {
      filter: {
        type: 'object',
        additionalProperties: false,
        properties: {
          ...filterProps,
          payload: { type: 'object', description: '{ "<dot.path>": value }', additionalProperties: true },
        },
      },
      since: { type: 'string', description: 'RFC 3339; event time, inclusive' },
      until: { type: 'string', description: 'RFC 3339; event time, exclusive' },
      target: {
        oneOf: [
          {
            type: 'object',
            additionalProperties: false,
            required: ['exchange'],
            properties: { exchange: { type: 'string', minLength: 1, maxLength: 255 } },
          },
          {
            type: 'object',
            additionalProperties: false,
            required: ['queue'],
            properties: { queue: { type: 'string', minLength: 1, maxLength: 255 } },
          },
        ],
      },
      rate_per_second: { type: 'number', exclusiveMinimum: 0, maximum: 1000000 },
    },
  },
  response: { 202: replayInfo, ...problems(400, 404, 503) },
} as const;

export const getReplaySchema = {
  summary: 'Replay progress',
  tags: ['replays'],
  params: { type: 'object', properties: { id: { type: 'string' } } },
  response: { 200: replayInfo, ...problems(404) },
} as const;

export const deleteReplaySchema = {
  summary: 'Cancel a replay',
  tags: ['replays'],
  params: { type: 'object', properties: { id: { type: 'string' } } },
  response: { 200: replayInfo, ...problems(404) },
} as const;

export const healthSchema = {
  summary: 'Database and broker checked; 503 when degraded',
  tags: ['operations'],
  response: {
    200: anyObject,
    503: anyObject,
  },
} as const;
