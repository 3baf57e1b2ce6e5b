export { runTransportContract, waitFor } from './contract.js';
