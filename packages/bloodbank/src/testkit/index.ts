export { type ContractOptions, runTransportContract, waitFor } from './contract.js';
export { type LateProxy, lateProxy } from './late-proxy.js';
export { OtlpReceiver, type ReceivedSpan } from './otlp-receiver.js';
export { type RestartHarness, runTransportRestartContract } from './restart-contract.js';
