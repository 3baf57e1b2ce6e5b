import { existsSync, readFileSync } from 'node:fs';
import { AppError } from '@33god/core';

/** Bearer token → registry service id. */
export type TokenMap = ReadonlyMap<string, string>;

/**
 * Reads `BLOODBANK_AUTH_TOKENS`: either inline `token=service-id,token2=service-id` or the path
 * of a file holding one `token=service-id` per line (`#` starts a comment). A file keeps the
 * secrets out of the process list and the environment dump.
 */
export function parseAuthTokens(spec: string): TokenMap {
  const text = !spec.includes('=') && existsSync(spec) ? readFileSync(spec, 'utf8') : spec;
  const map = new Map<string, string>();
  for (const raw of text.split(/[,\n]/)) {
    const entry = raw.replace(/#.*/, '').trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    const token = eq < 0 ? '' : entry.slice(0, eq).trim();
    const service = eq < 0 ? '' : entry.slice(eq + 1).trim();
    if (token === '' || service === '') {
      throw new AppError('CONFIG_INVALID', 'BLOODBANK_AUTH_TOKENS entries must look like token=service-id');
    }
    map.set(token, service);
  }
  return map;
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1] ?? null;
}
