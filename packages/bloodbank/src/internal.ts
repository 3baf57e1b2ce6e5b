// For sibling packages and the bench only; not part of the public API.
export { PushHttpClient } from './push/http-client.js';
