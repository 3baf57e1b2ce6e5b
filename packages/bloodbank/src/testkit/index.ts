export { type ContractOptions, runTransportContract, waitFor } from './contract.js';
export { type LateProxy, lateProxy } from './late-proxy.js';
