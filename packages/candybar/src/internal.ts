export { probeServices } from './http/service-health.js';
export { CLOSE_UPSTREAM_RESTARTING, CLOSE_UPSTREAM_UNAVAILABLE } from './http/stream-proxy.js';
