/**
 * Webhook providers as data. A provider says how its deliveries are signed, where the
 * delivery id is, and how to name the event; `ingestWebhook` does the rest the same way for
 * every provider, so adding one is a new entry here, not a new code path.
 */

/** Where to read a string: a request header or a member of the JSON body (dot path). */
export type FieldSource = { header: string } | { body: string };

/** A member of the JSON body (dot path): covered by the provider's signature. */
export type BodyField = { body: string };

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
  /**
   * Members of the body holding the provider's delivery id, first match wins: the dedup key.
   * None present: the SHA-256 of the body is the key. Only the body: every scheme here signs
   * the body alone, so a header could be changed by whoever replays a captured delivery.
   */
  deliveryId: readonly BodyField[];
  /** Header naming the delivery (unsigned): reported as the delivery id when the body has none. */
  deliveryHeader?: string;
  /**
   * First source that yields a value names the event; the action, when there is one, is
   * appended (`issue` + `created`). No action (GitHub's `push`, `ping`): the name alone.
   */
  eventName: readonly FieldSource[];
  action: readonly FieldSource[];
  /**
   * The provider's event names may carry their action after a dot (Plane v2's
   * `workitem.created`): such a name is complete. Otherwise a name is one word, and a dot in
   * it is refused rather than allowed to add words to the routing key.
   */
  qualifiedEventNames?: boolean;
  /**
   * Form field holding the JSON payload when the provider posts
   * `application/x-www-form-urlencoded` (GitHub's other content type). Unset: form bodies are
   * refused with 415.
   */
  formPayloadField?: string;
}

export const PLANE_PROVIDER: WebhookProvider = {
  id: 'plane',
  app: 'plane',
  secretEnv: 'PLANE_WEBHOOK_SECRET',
  signature: { header: 'x-plane-signature', algorithm: 'sha256', prefix: '', encoding: 'hex' },
  // v2 carries `delivery_id` in the signed body (the header repeats it); v1 sends it only as
  // the unsigned header, so a v1 delivery is known by its body's digest.
  deliveryId: [{ body: 'delivery_id' }, { body: 'event_id' }],
  deliveryHeader: 'x-plane-delivery',
  // v1: `event` = `issue`, `action` = `created`; v2: `event` = `workitem.created`.
  eventName: [{ body: 'event' }, { body: 'event_type' }, { header: 'x-plane-event' }],
  action: [{ body: 'action' }],
  qualifiedEventNames: true,
};

export const GITHUB_PROVIDER: WebhookProvider = {
  id: 'github',
  app: 'github',
  secretEnv: 'GITHUB_WEBHOOK_SECRET',
  signature: { header: 'x-hub-signature-256', algorithm: 'sha256', prefix: 'sha256=', encoding: 'hex' },
  // X-Hub-Signature-256 covers the body only and the body holds no delivery id, so
  // X-GitHub-Delivery is reported but a delivery is known by its body's digest.
  deliveryId: [],
  deliveryHeader: 'x-github-delivery',
  // `ping` (sent when a hook is created), `push`, `create`, `delete`... carry no action.
  eventName: [{ header: 'x-github-event' }],
  action: [{ body: 'action' }],
  // A hook set to `application/x-www-form-urlencoded` posts `payload=<JSON>`, signed as sent.
  formPayloadField: 'payload',
};

export const DEFAULT_PROVIDERS: readonly WebhookProvider[] = [PLANE_PROVIDER, GITHUB_PROVIDER];
