import { createHmac, timingSafeEqual } from 'node:crypto';
import { AppError } from '@33god/core';
import type { SignatureScheme } from './providers.js';

/** The header value a sender would put on `body` (used by tests and by `bb` tooling). */
export function signBody(scheme: SignatureScheme, secret: string, body: Buffer | string): string {
  return scheme.prefix + createHmac(scheme.algorithm, secret).update(body).digest(scheme.encoding);
}

/**
 * Verifies a signature header against the raw body. The comparison is constant-time and
 * length-checked first (timingSafeEqual throws on unequal lengths), so neither a wrong
 * length nor a near miss is distinguishable by timing beyond the length itself.
 */
export function verifySignature(
  scheme: SignatureScheme,
  secret: string,
  body: Buffer,
  header: string | undefined,
): void {
  if (header === undefined || header.trim() === '') {
    throw new AppError('WEBHOOK_SIGNATURE_MISSING', `the ${scheme.header} header is required`);
  }
  const value = header.trim();
  const expected = Buffer.from(signBody(scheme, secret, body));
  const given = Buffer.from(scheme.encoding === 'hex' ? value.toLowerCase() : value);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new AppError('WEBHOOK_SIGNATURE_INVALID', `the ${scheme.header} header does not match the body`);
  }
}
