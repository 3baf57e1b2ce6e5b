import { timingSafeEqual } from 'node:crypto';
import { AppError, topicMatches } from '@33god/core';
import { bearerToken, type TokenMap } from './tokens.js';

/** Who is calling, once a bearer token was accepted. */
export interface Principal {
  token: string;
  service: string;
}

/** What a service may publish: the `produces` list of its registry entry (topic patterns allowed). */
export type ProducesLookup = (service: string) => readonly string[] | undefined;

/**
 * Bearer-token authentication and producer authorisation. Tokens are compared in constant
 * time against every configured token so the answer time says nothing about near misses.
 */
export class Authorizer {
  readonly #tokens: { buf: Buffer; token: string; service: string }[];
  readonly #produces: ProducesLookup;

  constructor(tokens: TokenMap, produces: ProducesLookup) {
    this.#tokens = [...tokens].map(([token, service]) => ({ buf: Buffer.from(token), token, service }));
    this.#produces = produces;
  }

  authenticate(authorization: string | undefined): Principal {
    const given = bearerToken(authorization);
    if (given === null) throw new AppError('UNAUTHORIZED', 'send Authorization: Bearer <token>');
    const buf = Buffer.from(given);
    let found: Principal | null = null;
    for (const t of this.#tokens) {
      if (t.buf.length === buf.length && timingSafeEqual(t.buf, buf))
        found = { token: t.token, service: t.service };
    }
    if (found === null) throw new AppError('UNAUTHORIZED', 'the bearer token is not valid');
    return found;
  }

  /** Throws FORBIDDEN_EVENT_TYPE unless the service's registry entry produces this type. */
  authorize(principal: Principal, eventType: string): void {
    const produces = this.#produces(principal.service);
    if (produces === undefined) {
      throw new AppError(
        'FORBIDDEN_EVENT_TYPE',
        `service '${principal.service}' is not in the service registry, so it may not publish`,
      );
    }
    if (!produces.some((p) => topicMatches(p, eventType))) {
      throw new AppError(
        'FORBIDDEN_EVENT_TYPE',
        `service '${principal.service}' may not publish '${eventType}' (its registry entry produces: ${produces.join(', ') || 'nothing'})`,
      );
    }
  }
}
