import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { AppError, type EventEnvelope, eventTypeProblem } from '@33god/core';
import { v5 as uuidv5 } from 'uuid';
import { assertJsonDepth } from '../gateway/json-depth.js';
import { DeliveryLru } from './dedup.js';
import type { FieldSource, WebhookProvider } from './providers.js';
import { verifySignature } from './signature.js';

/** Namespace of webhook event ids: uuidv5(`<provider>:<delivery key>`, this). Never change it. */
export const WEBHOOK_ID_NAMESPACE = '6f1d6a52-2f0e-4c7e-9a55-3b8f0c1e7d24';

export type Headers = Record<string, string | string[] | undefined>;

export interface WebhookResult {
  status: 202 | 200;
  event_id: string;
  event_type: string;
  /** The provider's id of the delivery (body, else its header), for tracing; null when it sends none. */
  delivery_id: string | null;
  duplicate: boolean;
}

export interface WebhookIngestorOptions {
  providers: readonly WebhookProvider[];
  /** Secret per provider id; a provider without one answers 503 WEBHOOK_NOT_CONFIGURED. */
  secrets: Readonly<Record<string, string | undefined>>;
  /** Publishes (and validates) the envelope; resolves on the broker's confirm. */
  publish: (envelope: EventEnvelope) => Promise<void>;
  /** Deliveries remembered for redelivery answers. Default 10 000. */
  dedupSize?: number;
}

/** The stable event id of one delivery (its `deliveryKey`), the same on every gateway instance. */
export function webhookEventId(providerId: string, deliveryKey: string): string {
  return uuidv5(`${providerId}:${deliveryKey}`, WEBHOOK_ID_NAMESPACE);
}

/**
 * What a delivery is known by, for deduplication and its event id: only what the provider
 * signed. Its delivery id when the body carries one (Plane v2's `delivery_id`), else the body's
 * SHA-256. Never a header: the HMAC covers the body alone, so whoever captured a delivery could
 * replay it with a fresh X-GitHub-Delivery (or X-Plane-Delivery), and a key taken from that
 * header would make it a new event, with a new id on every instance, that consumers would act
 * on again (the dispatcher would start another agent). An honest redelivery resends the same
 * bytes, so it keeps its key; two deliveries with byte-identical bodies are one event (bodies
 * carry the object's state and update time, so a second one would be a resend, not news).
 */
export function deliveryKey(
  provider: WebhookProvider,
  rawBody: Buffer,
  body: Record<string, unknown>,
): string {
  return (
    first(provider.deliveryId, body, {}) ?? `sha256:${createHash('sha256').update(rawBody).digest('hex')}`
  );
}

/**
 * Verifies, names, deduplicates and publishes webhook deliveries. Order matters: the
 * signature is checked on the raw bytes before anything is parsed, and a delivery is
 * remembered only once the broker confirmed it, so a failed publish can be redelivered.
 */
export class WebhookIngestor {
  readonly #providers: Map<string, WebhookProvider>;
  readonly #options: WebhookIngestorOptions;
  readonly #seen: DeliveryLru;
  readonly #inFlight = new Map<string, Promise<string>>();
  readonly #host = hostname();
  readonly #secrets: Map<string, string | undefined>;

  constructor(options: WebhookIngestorOptions) {
    this.#options = options;
    this.#providers = new Map(options.providers.map((p) => [p.id, p]));
    this.#seen = new DeliveryLru(options.dedupSize ?? 10_000);
    this.#secrets = new Map(
      Object.entries(options.secrets).map(([id, secret]) => [id, webhookSecret(secret)]),
    );
  }

  get providers(): readonly WebhookProvider[] {
    return [...this.#providers.values()];
  }

  async ingest(providerId: string, rawBody: Buffer, headers: Headers): Promise<WebhookResult> {
    const provider = this.#providers.get(providerId);
    if (!provider) {
      throw new AppError('WEBHOOK_UNKNOWN_PROVIDER', `no webhook provider '${providerId}'`, {
        extra: { providers: [...this.#providers.keys()] },
      });
    }
    const secret = this.#secrets.get(provider.id);
    if (!secret) {
      throw new AppError(
        'WEBHOOK_NOT_CONFIGURED',
        `set ${provider.secretEnv} to accept ${provider.id} webhooks; unsigned deliveries are never accepted`,
      );
    }
    verifySignature(provider.signature, secret, rawBody, header(headers, provider.signature.header));

    const payload = parseBody(provider, rawBody, headers);
    const eventType = eventTypeOf(provider, payload, headers);
    const signedKey = deliveryKey(provider, rawBody, payload);
    const deliveryId =
      first(provider.deliveryId, payload, headers) ??
      (provider.deliveryHeader === undefined
        ? undefined
        : read({ header: provider.deliveryHeader }, payload, headers)) ??
      null;
    const key = `${provider.id}:${signedKey}`;
    const eventId = webhookEventId(provider.id, signedKey);

    const known = this.#seen.get(key);
    const running = this.#inFlight.get(key);
    if (known !== undefined || running !== undefined) {
      if (running) await running;
      return {
        status: 200,
        event_id: eventId,
        event_type: eventType,
        delivery_id: deliveryId,
        duplicate: true,
      };
    }

    const envelope: EventEnvelope = {
      event_id: eventId,
      event_type: eventType,
      timestamp: new Date().toISOString(),
      version: '1.0.0',
      source: { app: provider.app, host: this.#host, trigger_type: 'webhook' },
      correlation_id: eventId,
      causation_id: null,
      payload,
    };
    const publishing = this.#options.publish(envelope).then(() => eventId);
    this.#inFlight.set(key, publishing);
    try {
      await publishing;
      this.#seen.set(key, eventId);
    } finally {
      this.#inFlight.delete(key);
    }
    return {
      status: 202,
      event_id: eventId,
      event_type: eventType,
      delivery_id: deliveryId,
      duplicate: false,
    };
  }
}

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

function read(src: FieldSource, body: Record<string, unknown>, headers: Headers): string | undefined {
  let v: unknown;
  if ('header' in src) v = header(headers, src.header);
  else {
    v = body;
    for (const part of src.body.split('.')) {
      v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
    }
  }
  if (typeof v === 'number') v = String(v);
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

function first(sources: readonly FieldSource[], body: Record<string, unknown>, headers: Headers) {
  return firstNamed(sources, body, headers)?.value;
}

/**
 * The secret as the HMAC key: the string's UTF-8 bytes (GitHub and Plane secrets are plain
 * strings, not base64 like Standard Webhooks' `whsec_`). Trailing line endings are dropped:
 * a secret file or `echo` leaves one, and none can be part of a secret typed into (or
 * generated by) the provider's single-line field. Nothing else is: a space is a character.
 */
export function webhookSecret(secret: string | undefined): string | undefined {
  const s = secret?.replace(/[\r\n]+$/, '');
  return s === '' ? undefined : s;
}

/** Fatal: a body that is not UTF-8 is refused rather than published with U+FFFD in it. */
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The delivery's JSON object, read from the bytes the signature covered. A UTF-8 byte order
 * mark is dropped (TextDecoder does, by default). A form-encoded delivery (GitHub's
 * `application/x-www-form-urlencoded`) carries the JSON in `provider.formPayloadField`.
 */
function parseBody(provider: WebhookProvider, rawBody: Buffer, headers: Headers): Record<string, unknown> {
  let text: string;
  try {
    text = utf8.decode(rawBody);
  } catch {
    throw new AppError('MALFORMED_JSON', 'the webhook body is not UTF-8');
  }
  const mediaType = (header(headers, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (mediaType === 'application/x-www-form-urlencoded') {
    if (provider.formPayloadField === undefined) {
      throw new AppError(
        'UNSUPPORTED_MEDIA_TYPE',
        `${provider.id} webhooks are JSON: configure the webhook to send application/json`,
      );
    }
    const field = new URLSearchParams(text).get(provider.formPayloadField);
    if (field === null) {
      throw new AppError(
        'WEBHOOK_PAYLOAD_INVALID',
        `a form-encoded ${provider.id} delivery carries its JSON in the '${provider.formPayloadField}' field, and this one has none`,
      );
    }
    text = field;
  }
  try {
    assertJsonDepth(text);
  } catch (err) {
    throw new AppError(
      'WEBHOOK_PAYLOAD_INVALID',
      (err as AppError).detail ?? 'the webhook body is nested too deep',
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new AppError('MALFORMED_JSON', 'the webhook body is not valid JSON');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new AppError('WEBHOOK_PAYLOAD_INVALID', 'the webhook body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

/** The first source with a value, and what to call it in an error. */
function firstNamed(sources: readonly FieldSource[], body: Record<string, unknown>, headers: Headers) {
  for (const src of sources) {
    const value = read(src, body, headers);
    if (value !== undefined) {
      return { value, where: 'header' in src ? `the ${src.header} header` : `body member '${src.body}'` };
    }
  }
  return undefined;
}

/**
 * A provider's name as routing-key words: lowercased, inner whitespace as `_` (a label such
 * as `Pull Request`). Nothing else is rewritten: `#`, `*`, empty words or other characters
 * would either widen the routing key or make two names one, so the type they give fails
 * `eventTypeProblem` and the delivery is refused.
 */
const routingWords = (name: string): string => name.toLowerCase().replace(/\s+/g, '_');

/**
 * `webhook.<provider>.<event>[.<action>]`, checked by the event-type rule every entry point
 * uses (`eventTypeProblem`), each part on its own so the refusal names the culprit. An action
 * is one word; so is an event name, unless the provider's names may carry their action
 * (`qualifiedEventNames`), in which case a dotted name is complete and no action is added.
 */
function eventTypeOf(provider: WebhookProvider, body: Record<string, unknown>, headers: Headers): string {
  const name = firstNamed(provider.eventName, body, headers);
  if (name === undefined) {
    throw new AppError('WEBHOOK_PAYLOAD_INVALID', `cannot tell which ${provider.id} event this delivery is`);
  }
  const event = routingWords(name.value);
  const complete = provider.qualifiedEventNames === true && event.includes('.');
  const action = complete ? undefined : firstNamed(provider.action, body, headers);
  const parts = [{ ...name, word: event, dotsAllowed: complete }];
  if (action !== undefined) parts.push({ ...action, word: routingWords(action.value), dotsAllowed: false });
  const prefix = `webhook.${provider.id}`;
  for (const part of parts) {
    const problem =
      !part.dotsAllowed && part.word.includes('.')
        ? 'must be one word, without dots'
        : eventTypeProblem(`${prefix}.${part.word}`);
    if (problem) {
      throw new AppError(
        'WEBHOOK_PAYLOAD_INVALID',
        `${part.where} ('${part.value}') cannot name an event type: it ${problem}`,
      );
    }
  }
  const type = [prefix, ...parts.map((p) => p.word)].join('.');
  const problem = eventTypeProblem(type);
  if (problem) throw new AppError('WEBHOOK_PAYLOAD_INVALID', `event type '${type}' ${problem}`);
  return type;
}
