export { main } from './cli.js';
export { BLOODBANK_URL, CANDYBAR_HOST, CANDYBAR_PORT, CANDYSTORE_URL } from './config.js';
export type { ServiceHealth } from './http/service-health.js';
export { loadRegistry, normalizeRegistry } from './registry/load-registry.js';
export type { ExchangeInfo, Registry, RegistryService, ServiceStatus } from './registry/types.js';
export { type CandybarOptions, type CandybarServer, DEFAULT_STATIC_DIR, startCandybar } from './server.js';
