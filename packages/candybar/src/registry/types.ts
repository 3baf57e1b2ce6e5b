/**
 * The normalized service registry, the one shape the dashboard's server hands to the
 * browser (`GET /api/registry`). The web app imports these types too.
 */

export type ServiceStatus = 'active' | 'planned' | 'deprecated' | (string & {});

export interface RegistryService {
  id: string;
  name: string;
  description: string;
  type: string;
  status: ServiceStatus;
  owner: string;
  tags: string[];
  /** Every queue the service reads (the original allowed one or several). */
  queues: string[];
  /** Binding patterns of the service's queues on the exchange. */
  routingKeys: string[];
  produces: string[];
  consumes: string[];
  endpoints: Record<string, string>;
  /** The first queue, for services that have exactly one. */
  queue: string | null;
  /** The service's HTTP push subscription (docs/push.md); its state comes from the gateway's /health. */
  push: RegistryPush | null;
}

export interface RegistryPush {
  /** Scheme, host and path only: credentials, query and fragment may hold tokens. */
  url: string;
  ordered: boolean;
  concurrency: number | null;
}

export interface ExchangeInfo {
  name: string;
  type?: string;
  durable?: boolean;
}

export interface Registry {
  version: string;
  exchange: ExchangeInfo | string;
  services: RegistryService[];
  /** Layer name → service ids (the original file calls this `topology`), in display order. */
  layers: Record<string, string[]>;
  /** Event type → consuming service ids (documentation in the original, still honoured). */
  eventSubscriptions: Record<string, string[]>;
}
