import { ENVELOPE_FIELDS, type EventEnvelope, type EventSource } from './envelope.js';
import { AppError } from './errors.js';

/**
 * Lossless mapping between the EventEnvelope and CloudEvents 1.0.
 *
 * | envelope            | CloudEvent                                                     |
 * |---------------------|----------------------------------------------------------------|
 * | event_id            | id                                                             |
 * | event_type          | type                                                           |
 * | timestamp           | time                                                           |
 * | version             | extension `eventversion`                                       |
 * | source (object)     | source: `source.uri` when the event came from elsewhere, else  |
 * |                     | `urn:33god:app:<app>?host=..&trigger_type=..` (every member)   |
 * | correlation_id      | extension `correlationid`                                      |
 * | causation_id        | extension `causationid`                                        |
 * | payload             | data (datacontenttype application/json)                        |
 * | traceparent         | extension `traceparent` (Distributed Tracing extension)        |
 * | tracestate          | extension `tracestate` (Distributed Tracing extension)         |
 * | other members       | an extension of the same name when it is a valid extension     |
 * |                     | name holding a string, else inside extension `envelopeext`     |
 * |                     | (JSON)                                                         |
 */

export interface CloudEvent {
  specversion: '1.0';
  id: string;
  type: string;
  source: string;
  time?: string;
  datacontenttype?: string;
  dataschema?: string;
  subject?: string;
  data?: unknown;
  [extension: string]: unknown;
}

const SOURCE_URN = 'urn:33god:app:';
const EXT_NAME_RE = /^[a-z0-9]{1,20}$/;
const CE_CONTEXT = new Set([
  'specversion',
  'id',
  'type',
  'source',
  'time',
  'datacontenttype',
  'dataschema',
  'subject',
  'data',
  'data_base64',
]);
const OWN_EXTENSIONS = new Set(['eventversion', 'correlationid', 'causationid', 'envelopeext']);

export function sourceToUri(source: EventSource): string {
  if (source.uri) return source.uri;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(source).sort(([a], [b]) => a.localeCompare(b))) {
    if (k !== 'app' && v !== undefined) params.set(k, v);
  }
  const q = params.toString();
  return `${SOURCE_URN}${encodeURIComponent(source.app)}${q ? `?${q}` : ''}`;
}

export function uriToSource(uri: string): EventSource {
  if (uri.startsWith(SOURCE_URN)) {
    const rest = uri.slice(SOURCE_URN.length);
    const qi = rest.indexOf('?');
    const app = decodeURIComponent(qi < 0 ? rest : rest.slice(0, qi));
    const source: EventSource = { app, host: '', trigger_type: 'api' };
    if (qi >= 0) for (const [k, v] of new URLSearchParams(rest.slice(qi + 1))) source[k] = v;
    return source;
  }
  // A source from another system: keep the URI verbatim and derive a readable app name.
  let app = uri;
  try {
    const u = new URL(uri);
    app = u.hostname || u.pathname || uri;
  } catch {
    app = uri.split('/').filter(Boolean).pop() ?? uri;
  }
  return { app, host: 'unknown', trigger_type: 'api', uri };
}

export function envelopeToCloudEvent(env: EventEnvelope<unknown>): CloudEvent {
  const ce: CloudEvent = {
    specversion: '1.0',
    id: env.event_id,
    type: env.event_type,
    source: sourceToUri(env.source),
    time: env.timestamp,
    datacontenttype: 'application/json',
    eventversion: env.version,
    data: env.payload,
  };
  if (env.correlation_id) ce.correlationid = env.correlation_id;
  if (env.causation_id) ce.causationid = env.causation_id;
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(env)) {
    if ((ENVELOPE_FIELDS as readonly string[]).includes(k)) continue;
    if (EXT_NAME_RE.test(k) && typeof v === 'string' && !CE_CONTEXT.has(k) && !OWN_EXTENSIONS.has(k))
      ce[k] = v;
    else rest[k] = v;
  }
  if (Object.keys(rest).length > 0) ce.envelopeext = JSON.stringify(rest);
  return ce;
}

export function cloudEventToEnvelope(ce: Record<string, unknown>): EventEnvelope<unknown> {
  const problems: { pointer: string; message: string }[] = [];
  const need = (name: string) => {
    if (typeof ce[name] !== 'string' || (ce[name] as string).length === 0)
      problems.push({ pointer: `/${name}`, message: 'is required and must be a non-empty string' });
  };
  if (ce.specversion !== '1.0') problems.push({ pointer: '/specversion', message: "must be '1.0'" });
  need('id');
  need('type');
  need('source');
  if (problems.length > 0) {
    throw new AppError('INVALID_CLOUDEVENT', 'the CloudEvent is missing required attributes', {
      violations: problems,
    });
  }
  let data: unknown = ce.data;
  if (data === undefined && typeof ce.data_base64 === 'string') {
    try {
      data = JSON.parse(Buffer.from(ce.data_base64, 'base64').toString('utf8'));
    } catch {
      throw new AppError('INVALID_CLOUDEVENT', 'data_base64 does not hold JSON');
    }
  }
  const env: EventEnvelope<unknown> = {
    event_id: ce.id as string,
    event_type: ce.type as string,
    timestamp: typeof ce.time === 'string' ? ce.time : new Date().toISOString(),
    version: typeof ce.eventversion === 'string' ? ce.eventversion : '1.0.0',
    source: uriToSource(ce.source as string),
    correlation_id: typeof ce.correlationid === 'string' ? ce.correlationid : null,
    causation_id: typeof ce.causationid === 'string' ? ce.causationid : null,
    payload: data === undefined ? {} : data,
  };
  if (typeof ce.envelopeext === 'string') {
    try {
      Object.assign(env, JSON.parse(ce.envelopeext));
    } catch {
      throw new AppError('INVALID_CLOUDEVENT', 'extension envelopeext does not hold JSON');
    }
  }
  for (const [k, v] of Object.entries(ce)) {
    if (!CE_CONTEXT.has(k) && !OWN_EXTENSIONS.has(k)) env[k] = v;
  }
  return env;
}

/** HTTP binary mode: `ce-*` headers carry the attributes, the body carries `data`. */
export function envelopeToBinaryHttp(env: EventEnvelope<unknown>): {
  headers: Record<string, string>;
  body: string;
} {
  const ce = envelopeToCloudEvent(env);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  for (const [k, v] of Object.entries(ce)) {
    if (k === 'data' || k === 'datacontenttype' || v === undefined) continue;
    headers[`ce-${k}`] = encodeHeaderValue(String(v));
  }
  return { headers, body: JSON.stringify(ce.data ?? null) };
}

/** Reads HTTP binary mode: header names are case-insensitive; `body` is the parsed data. */
export function binaryHttpToEnvelope(
  headers: Record<string, string | string[] | undefined>,
  body: unknown,
): EventEnvelope<unknown> {
  const ce: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (!lower.startsWith('ce-') || raw === undefined) continue;
    const value = Array.isArray(raw) ? raw.join(',') : raw;
    ce[lower.slice(3)] = decodeHeaderValue(value);
  }
  ce.data = body;
  return cloudEventToEnvelope(ce);
}

export function hasBinaryCloudEventHeaders(headers: Record<string, unknown>): boolean {
  return Object.keys(headers).some((h) => h.toLowerCase() === 'ce-specversion');
}

// The HTTP binding percent-encodes characters outside printable ASCII, plus '%' and '"'.
function encodeHeaderValue(v: string): string {
  return v.replace(/[^\x21-\x7e ]|[%"]/gu, (c) =>
    [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}

function decodeHeaderValue(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}
