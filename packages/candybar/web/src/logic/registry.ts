/**
 * The normalized service registry as the dashboard's server hands it out
 * (`GET /api/registry`), plus the questions the views ask of it.
 */

import type { Registry, RegistryService } from '../../../src/registry/types.js';

export type { ExchangeInfo, Registry, RegistryService, ServiceStatus } from '../../../src/registry/types.js';

export function exchangeName(reg: Registry): string {
  return typeof reg.exchange === 'string' ? reg.exchange : (reg.exchange?.name ?? 'bloodbank.events.v1');
}

export function serviceById(reg: Registry): Map<string, RegistryService> {
  return new Map(reg.services.map((s) => [s.id, s]));
}

/**
 * Which registered service an event's `source.app` names. Producers identify
 * themselves by id or by display name; case and `_`/`-` differences are forgiven
 * because the original producers were not consistent about them.
 */
export function serviceForApp(reg: Registry, app: string | undefined): RegistryService | null {
  if (!app) return null;
  const key = canonical(app);
  for (const s of reg.services) {
    if (canonical(s.id) === key || canonical(s.name) === key) return s;
  }
  return null;
}

function canonical(s: string): string {
  return s.toLowerCase().replaceAll('_', '-').trim();
}
