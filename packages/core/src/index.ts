export { hostOf, isLoopbackHost, isWildcardHost, urlForBind } from './access/addresses.js';
export {
  type AccessConfig,
  ALLOW_UNAUTHENTICATED,
  ALLOWED_HOSTS,
  ALLOWED_ORIGINS,
  AUTH_TOKENS,
  AUTH_TOKENS_FILE,
  accessConfigFromEnv,
  BLOODBANK_AUTH_TOKENS,
  normalizeOrigin,
  OPEN_ACCESS,
} from './access/config.js';
export { AccessGuard, type AccessRequest, type RouteAccess, routeAccess } from './access/guard.js';
export { SECURITY_HEADERS, secureAnswers } from './access/headers.js';
export { type RateLimit, RateLimiter, type RateLimiterOptions } from './access/rate-limit.js';
export {
  answerClientError,
  HEADERS_TIMEOUT_MS,
  REQUEST_TIMEOUT_MS,
  SERVER_LIMITS,
} from './access/server-limits.js';
export {
  type AccessToken,
  bearerToken,
  type Principal,
  parseLegacyPublishTokens,
  parseTokenEntries,
  SCOPES,
  type Scope,
} from './access/tokens.js';
export {
  binaryHttpToEnvelope,
  type CloudEvent,
  cloudEventToEnvelope,
  envelopeToBinaryHttp,
  envelopeToCloudEvent,
  hasBinaryCloudEventHeaders,
  sourceToUri,
  uriToSource,
} from './cloudevents.js';
export {
  assertEnvelope,
  type DecodedMessage,
  decodeEnvelope,
  decodeEnvelopeOrThrow,
  type EnvelopeMessage,
  type EnvelopeRuleOptions,
  encodeEnvelope,
  envelopeErrorCode,
  envelopeViolations,
  MAX_SOURCE_MEMBER_LENGTH,
  MAX_VERSION_LENGTH,
  TRACE_CONTEXT_KEYWORD,
} from './codec.js';
export {
  AMQP_URL,
  BB_TOKEN,
  BLOODBANK_URL,
  CANDYSTORE_URL,
  DATABASE_URL,
  ENV_VARS,
  type EnvVarSpec,
  envVar,
  HOLYFIELDS_SCHEMAS,
  LOG_LEVEL,
  parse,
  readEnv,
  requireEnv,
  SERVICES_REGISTRY,
} from './config.js';
export {
  AMQP_HEADERS,
  completeEnvelope,
  DEFAULT_EVENT_VERSION,
  ENVELOPE_FIELDS,
  type EnvelopeAmqpProperties,
  type EnvelopeDefaults,
  type EventEnvelope,
  type EventSource,
  envelopeAmqpProperties,
  type TriggerType,
} from './envelope.js';
export {
  AppError,
  type AppErrorOptions,
  appError,
  ERROR_CATALOGUE,
  type ErrorCode,
  type ErrorDefinition,
  formatError,
  isAppError,
  PROBLEM_JSON_SCHEMA,
  PROBLEM_TYPE_BASE,
  type ProblemDocument,
  toProblem,
  type Violation,
} from './errors.js';
export { isUuid, newEventId } from './ids.js';
export { defaultRegistryPath, defaultSchemasDir, projectRoot } from './paths.js';
export {
  eventTypeProblem,
  isValidEventType,
  isValidPattern,
  MAX_PATTERN_WILDCARDS,
  MAX_PATTERN_WORDS,
  MAX_ROUTING_KEY_LENGTH,
  PatternSet,
  patternProblem,
  topicMatches,
  topicMatchSteps,
} from './routing.js';
export {
  acceptedTraceparent,
  acceptedTracestate,
  childOf,
  formatTraceparent,
  isCanonicalTraceparent,
  newSpanId,
  newTrace,
  newTraceId,
  parseTraceparent,
  TRACEPARENT,
  TRACESTATE,
  TRACESTATE_MAX_LENGTH,
  TRACESTATE_MAX_MEMBERS,
  type TraceContext,
  traceIdOf,
  tracestateProblem,
} from './trace.js';
