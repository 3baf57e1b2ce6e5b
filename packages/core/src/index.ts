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
  AMQP_URL,
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
  MAX_ROUTING_KEY_LENGTH,
  PatternSet,
  topicMatches,
} from './routing.js';
