/**
 * The one error catalogue of the project. Every error a user can see has a stable
 * code here, an HTTP status where it crosses HTTP, and a title. HTTP answers are
 * RFC 9457 problem+json documents built from these entries (see `toProblem`).
 * `docs/errors.md` documents every code; a test fails when one is missing there.
 */

export interface ErrorDefinition {
  readonly status: number;
  readonly title: string;
  /** Whether a consumer should retry an operation that failed with this code. */
  readonly retryable?: boolean;
}

export const ERROR_CATALOGUE = {
  // --- input at the edge (HTTP and CLI) ---
  MALFORMED_JSON: { status: 400, title: 'Malformed JSON' },
  INVALID_REQUEST: { status: 400, title: 'Invalid request' },
  INVALID_CURSOR: { status: 400, title: 'Invalid cursor' },
  INVALID_FILTER: { status: 400, title: 'Invalid filter' },
  INVALID_CORRELATION_ID: { status: 400, title: 'Invalid correlation id' },
  INVALID_TRACE_CONTEXT: { status: 400, title: 'Invalid trace context' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  REQUEST_TIMEOUT: { status: 408, title: 'Request not received in time' },
  BODY_TOO_LARGE: { status: 413, title: 'Request body too large' },
  BATCH_TOO_LARGE: { status: 413, title: 'Batch has too many events' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  HEADERS_TOO_LARGE: { status: 431, title: 'Request headers too large' },
  INVALID_ENVELOPE: { status: 422, title: 'Invalid event envelope' },
  SCHEMA_VIOLATION: { status: 422, title: 'Event violates its schema' },
  UNKNOWN_EVENT_TYPE: { status: 422, title: 'Unknown event type' },
  INVALID_CLOUDEVENT: { status: 422, title: 'Invalid CloudEvent' },
  UNAUTHORIZED: { status: 401, title: 'Authentication required' },
  FORBIDDEN_EVENT_TYPE: { status: 403, title: 'Event type not allowed for this producer' },
  FORBIDDEN_SCOPE: { status: 403, title: 'Token lacks the scope this route needs' },
  FORBIDDEN_SOURCE: { status: 403, title: 'Event source is not the calling principal' },
  WEBHOOK_TYPE_FORBIDDEN: {
    status: 403,
    title: 'Webhook event types enter only through their signed endpoint',
  },
  ORIGIN_NOT_ALLOWED: { status: 403, title: 'Request origin not allowed' },
  HOST_NOT_ALLOWED: { status: 421, title: 'Host not served here' },
  RATE_LIMITED: { status: 429, title: 'Rate limit exceeded' },
  TOO_MANY_STREAMS: { status: 429, title: 'Too many open live streams' },
  CONFLICT: { status: 409, title: 'Conflict' },

  // --- webhooks ---
  WEBHOOK_NOT_CONFIGURED: { status: 503, title: 'Webhook provider is not configured' },
  WEBHOOK_SIGNATURE_MISSING: { status: 401, title: 'Webhook signature missing' },
  WEBHOOK_SIGNATURE_INVALID: { status: 401, title: 'Webhook signature invalid' },
  WEBHOOK_UNKNOWN_PROVIDER: { status: 404, title: 'Unknown webhook provider' },
  WEBHOOK_PAYLOAD_INVALID: { status: 422, title: 'Webhook payload not understood' },

  // --- infrastructure ---
  BROKER_UNAVAILABLE: { status: 503, title: 'Message broker unavailable', retryable: true },
  DATABASE_UNAVAILABLE: { status: 503, title: 'Database unavailable', retryable: true },
  SERVICE_UNAVAILABLE: { status: 503, title: 'Service unavailable', retryable: true },
  PUBLISH_UNROUTABLE: { status: 502, title: 'Event could not be routed to any queue' },
  PUBLISH_NACKED: { status: 503, title: 'Broker refused the publish', retryable: true },
  PUBLISH_TIMEOUT: { status: 503, title: 'Broker did not confirm the publish in time', retryable: true },
  TRANSPORT_CLOSED: { status: 503, title: 'Transport is closed' },
  INVALID_BROKER_URL: { status: 500, title: 'Invalid broker URL' },
  TOPOLOGY_DRIFT: { status: 500, title: 'Broker topology differs from the registry' },
  QUEUE_NOT_FOUND: { status: 404, title: 'Queue not found' },
  EXCHANGE_NOT_FOUND: { status: 404, title: 'Exchange not found' },
  TOPOLOGY_CONFLICT: { status: 409, title: 'Declaration conflicts with the existing queue or exchange' },

  // --- schemas and registry (Holyfields) ---
  SCHEMA_LOAD_FAILED: { status: 500, title: 'Schema tree could not be loaded' },
  SCHEMA_PARSE_ERROR: { status: 500, title: 'Schema file is not valid JSON' },
  SCHEMA_REF_UNRESOLVED: { status: 500, title: 'Schema reference does not resolve' },
  SCHEMA_REF_CIRCULAR: { status: 500, title: 'Schema reference is circular' },
  SCHEMA_DUPLICATE_TYPE: { status: 500, title: 'Two schemas claim one event type' },
  SCHEMA_INVALID: { status: 500, title: 'Schema is not valid JSON Schema' },
  REGISTRY_INVALID: { status: 500, title: 'Service registry is invalid' },

  // --- consumers ---
  HANDLER_FAILED: { status: 500, title: 'Event handler failed', retryable: true },
  HANDLER_REJECTED: { status: 500, title: 'Event handler rejected the event permanently' },
  MESSAGE_NOT_JSON: { status: 422, title: 'Message body is not JSON' },

  // --- store ---
  MIGRATION_UNKNOWN_VERSION: { status: 500, title: 'Database schema version is unknown to this build' },
  REPLAY_NOT_FOUND: { status: 404, title: 'Replay not found' },
  // 403, not 422: the target is a well-formed name (it may well exist); the store refuses it by
  // policy, and the same request stays refused whoever sends it, until the registry lists it
  REPLAY_TARGET_FORBIDDEN: { status: 403, title: 'Replay target not allowed' },

  // --- dispatcher ---
  DISPATCH_REJECTED: { status: 502, title: 'OpenClaw rejected the dispatch' },
  DISPATCH_FAILED: { status: 502, title: 'OpenClaw dispatch failed', retryable: true },
  DISPATCH_STATE_INVALID: { status: 500, title: 'Dispatch state file cannot be read or written' },

  // --- push subscriptions ---
  PUSH_CONFIG_INVALID: { status: 500, title: 'Push subscription is misconfigured' },
  PUSH_DELIVERY_FAILED: { status: 502, title: 'Push delivery failed', retryable: true },
  PUSH_DELIVERY_REJECTED: { status: 502, title: 'Push endpoint rejected the event' },

  // --- configuration and last resort ---
  CONFIG_INVALID: { status: 500, title: 'Invalid configuration' },
  INTERNAL: { status: 500, title: 'Internal error' },
} as const satisfies Record<string, ErrorDefinition>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export const PROBLEM_TYPE_BASE = 'https://33god.dev/problems/';

/** One field-level problem, e.g. a schema violation at a JSON pointer. */
export interface Violation {
  /** JSON pointer into the offending document ('' for the root). */
  readonly pointer: string;
  readonly message: string;
  /** The schema keyword that failed, when there is one. */
  readonly keyword?: string;
}

export interface AppErrorOptions {
  readonly detail?: string;
  readonly cause?: unknown;
  readonly violations?: readonly Violation[];
  /** Extra members for the problem document (e.g. `file`, `retry_after`). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** An error from the catalogue. Everything user-visible is one of these. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly title: string;
  readonly detail: string | undefined;
  readonly violations: readonly Violation[];
  readonly extra: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, detail?: string, options: Omit<AppErrorOptions, 'detail'> = {}) {
    const def: ErrorDefinition = ERROR_CATALOGUE[code];
    super(
      detail ? `${def.title}: ${detail}` : def.title,
      options.cause === undefined ? {} : { cause: options.cause },
    );
    this.name = 'AppError';
    this.code = code;
    this.status = def.status;
    this.title = def.title;
    this.detail = detail;
    this.violations = options.violations ?? [];
    this.extra = options.extra ?? {};
  }

  get retryable(): boolean {
    const def: ErrorDefinition = ERROR_CATALOGUE[this.code];
    return def.retryable === true;
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

export function appError(
  code: ErrorCode,
  detail?: string,
  options?: Omit<AppErrorOptions, 'detail'>,
): AppError {
  return new AppError(code, detail, options);
}

/** RFC 9457 problem details. */
export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail?: string;
  instance?: string;
  errors?: Violation[];
  [extension: string]: unknown;
}

/**
 * JSON Schema of a `ProblemDocument`, for the OpenAPI documents and response schemas of
 * every HTTP server (each adds its own `$id` or description). Extension members pass through.
 */
export const PROBLEM_JSON_SCHEMA = {
  type: 'object',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    code: { type: 'string' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        properties: { pointer: { type: 'string' }, message: { type: 'string' }, keyword: { type: 'string' } },
      },
    },
  },
  additionalProperties: true,
} as const;

/**
 * The problem+json document for any thrown value. Unknown errors become INTERNAL
 * with a generic detail: a stack trace or driver message never reaches a client.
 */
export function toProblem(err: unknown, instance?: string): ProblemDocument {
  const e = isAppError(err) ? err : new AppError('INTERNAL', 'the server could not complete the request');
  const doc: ProblemDocument = {
    ...e.extra,
    type: `${PROBLEM_TYPE_BASE}${e.code.toLowerCase().replaceAll('_', '-')}`,
    title: e.title,
    status: e.status,
    code: e.code,
  };
  if (e.detail !== undefined) doc.detail = e.detail;
  if (instance !== undefined) doc.instance = instance;
  if (e.violations.length > 0) doc.errors = [...e.violations];
  return doc;
}

/** A one-line message for a terminal: `CODE: title: detail` plus violations. */
export function formatError(err: unknown): string {
  if (!isAppError(err)) {
    const msg = err instanceof Error ? err.message : String(err);
    return `error: ${msg}`;
  }
  const lines = [`error ${err.code}: ${err.message}`];
  for (const v of err.violations) lines.push(`  ${v.pointer || '/'}: ${v.message}`);
  return lines.join('\n');
}
