export { main } from './cli.js';
export { CANDYBAR_HOST, CANDYBAR_PORT, candybarOptionsFromEnv } from './config.js';
export type { ServiceHealth } from './http/service-health.js';
export { loadRegistry, toViewRegistry } from './registry/load-registry.js';
export type { ExchangeInfo, Registry, RegistryService, ServiceStatus } from './registry/types.js';
export { type CandybarOptions, type CandybarServer, DEFAULT_STATIC_DIR, startCandybar } from './server.js';
