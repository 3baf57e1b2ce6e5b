import { createHmac, type KeyObject } from 'node:crypto';

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): the signed content is
 * `<webhook-id>.<webhook-timestamp>.<raw body>`, the key the base64 secret after an optional
 * `whsec_` prefix, the header value `v1,<base64 HMAC-SHA256>`.
 */

const SECRET_PREFIX = 'whsec_';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The HMAC key of a secret (`whsec_<base64>` or bare base64), or null when it is not base64. */
export function decodeWebhookSecret(secret: string): Buffer | null {
  const text = (secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret).trim();
  if (text.length === 0 || text.length % 4 !== 0 || !BASE64.test(text)) return null;
  const key = Buffer.from(text, 'base64');
  return key.length > 0 ? key : null;
}

/**
 * An HMAC key: the decoded secret, or (cheaper per delivery, made once with `createSecretKey`)
 * a KeyObject of it.
 */
export type WebhookKey = Buffer | KeyObject;

/** The `webhook-signature` header value of one delivery. */
export function signWebhook(key: WebhookKey, id: string, timestampSeconds: number, body: Buffer): string {
  const mac = createHmac('sha256', key).update(`${id}.${timestampSeconds}.`).update(body).digest('base64');
  return `v1,${mac}`;
}
