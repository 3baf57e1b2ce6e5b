/**
 * Webhook providers as data. A provider says how its deliveries are signed, where the
 * delivery id is, and how to name the event; `ingestWebhook` does the rest the same way for
 * every provider, so adding one is a new entry here, not a new code path.
 */

/** Where to read a string: a request header or a member of the JSON body (dot path). */
export type FieldSource = { header: string } | { body: string };

export interface SignatureScheme {
  /** Request header holding the signature (case-insensitive). */
  header: string;
  algorithm: 'sha256' | 'sha1' | 'sha512';
  /** Text before the digest in the header, e.g. `sha256=`. */
  prefix: string;
  encoding: 'hex' | 'base64';
}

export interface WebhookProvider {
  /** Path segment (`POST /webhooks/<id>`) and middle word of the event type. */
  id: string;
  /** `source.app` of the published events. */
  app: string;
  /** Environment variable holding the shared secret (documentation and `bloodbank serve`). */
  secretEnv: string;
  signature: SignatureScheme;
  /** First source that yields a value is the delivery id; none: a hash of the body. */
  deliveryId: readonly FieldSource[];
  /**
   * First source that yields a value names the event. A name with a dot (`workitem.created`)
   * is complete; otherwise the action is appended (`issue` + `created`).
   */
  eventName: readonly FieldSource[];
  action: readonly FieldSource[];
}

export const PLANE_PROVIDER: WebhookProvider = {
  id: 'plane',
  app: 'plane',
  secretEnv: 'PLANE_WEBHOOK_SECRET',
  signature: { header: 'x-plane-signature', algorithm: 'sha256', prefix: '', encoding: 'hex' },
  // v1 sends the id only as a header; v2 also carries `delivery_id` in the body.
  deliveryId: [{ header: 'x-plane-delivery' }, { body: 'delivery_id' }, { body: 'event_id' }],
  // v1: `event` = `issue`, `action` = `created`; v2: `event` = `workitem.created`.
  eventName: [{ body: 'event' }, { body: 'event_type' }, { header: 'x-plane-event' }],
  action: [{ body: 'action' }],
};

export const GITHUB_PROVIDER: WebhookProvider = {
  id: 'github',
  app: 'github',
  secretEnv: 'GITHUB_WEBHOOK_SECRET',
  signature: { header: 'x-hub-signature-256', algorithm: 'sha256', prefix: 'sha256=', encoding: 'hex' },
  deliveryId: [{ header: 'x-github-delivery' }],
  eventName: [{ header: 'x-github-event' }],
  action: [{ body: 'action' }],
};

export const DEFAULT_PROVIDERS: readonly WebhookProvider[] = [PLANE_PROVIDER, GITHUB_PROVIDER];
