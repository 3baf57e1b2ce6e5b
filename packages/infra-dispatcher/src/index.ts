export {
  type CheckNotRun,
  type CheckOutcome,
  type ChecksConfig,
  type ComponentCheckOptions,
  checkFailed,
  checkFor,
  describeCheck,
  runComponentCheck,
} from './checks/component-check.js';
export { DEFAULT_COMPONENT_CHECKS } from './checks/defaults.js';
export {
  BASE_CHECK_ENV,
  type CheckSecret,
  checkEnvironment,
  DISPATCHER_SECRET_ENV,
  dispatcherSecrets,
  ENV_NAME,
  isDispatcherSecret,
  MIN_REDACTED_LENGTH,
  redactSecrets,
} from './checks/environment.js';
export {
  type CheckResult,
  type CheckStatus,
  DEFAULT_TAIL_BYTES,
  type RunCheckOptions,
  runCheck,
} from './checks/run-check.js';
export { type CliIo, main } from './cli.js';
export {
  assertServeable,
  type CheckMode,
  type ComponentCheckSpec,
  configFromEnv,
  DEFAULT_DISPATCHER_CONFIG,
  DEFAULT_STATE_FILE,
  type DispatcherConfig,
  defaultChecksRoot,
  defaultStatePath,
  INFRA_AGENT_LABEL_PREFIX,
  INFRA_CHECK_MODE,
  INFRA_CHECK_TIMEOUT_SECONDS,
  INFRA_CHECKS_CONFIG,
  INFRA_COMPONENT_LABEL_PREFIX,
  INFRA_DISPATCH_QUEUE,
  INFRA_DISPATCH_STATE_PATH,
  INFRA_DISPATCHER_HOST,
  INFRA_DISPATCHER_PORT,
  INFRA_READY_LABELS,
  INFRA_READY_STATES,
  INFRA_RUN_CHECKS,
  loadChecksFile,
  OPENCLAW_HOOK_TOKEN,
  OPENCLAW_HOOK_URL,
  parseChecks,
  resolveCheckCwd,
  resolveDispatcherConfig,
} from './config.js';
export {
  buildAgentRequest,
  buildMessage,
  type DispatchTicket,
  HOOK_NAME,
  type OpenClawAgentRequest,
  sessionKeyFor,
} from './dispatch/message.js';
export {
  backoff,
  createOpenClawClient,
  DEFAULT_RETRY_POLICY,
  type DispatchReceipt,
  isRetryableStatus,
  type OpenClawClient,
  type OpenClawClientOptions,
  type RetryPolicy,
} from './dispatch/openclaw-client.js';
export {
  type CheckReport,
  checkReports,
  DISPATCH_EVENT_TYPES,
  type DispatchCompletedPayload,
  type DispatchFailedPayload,
  type DispatchSkippedPayload,
  PLANE_WEBHOOK_PATTERN,
  type SkipReason,
  type TicketFields,
} from './dispatcher/events.js';
export { KeyedLock } from './dispatcher/keyed-lock.js';
export {
  createDispatchPipeline,
  type DispatchActivity,
  type DispatchOutcome,
  type DispatchPipeline,
  type DispatchPipelineOptions,
  type DispatchStats,
  type PipelineLogger,
  type PublishFn,
  ticketFields,
} from './dispatcher/pipeline.js';
export { namedMatches, sameName, slugify, valueAfterPrefix } from './gate/matching.js';
export {
  agentsOf,
  componentOf,
  DISPATCHABLE_ACTIONS,
  evaluateGate,
  type GateConfig,
  type GateDecision,
} from './gate/ready-gate.js';
export {
  buildHealthServer,
  type HealthReport,
  type HealthSources,
  healthReport,
} from './http/health.js';
export {
  type PlaneNamed,
  type PlaneWorkItem,
  type ReadResult,
  readPlaneWorkItem,
} from './plane/work-item.js';
export {
  APP_NAME,
  type RunningDispatcher,
  type StartDispatcherOptions,
  startDispatcher,
  toBusError,
} from './service.js';
export { removeStaleTempFiles, writeFileAtomic } from './state/atomic-file.js';
export {
  type DispatchRecord,
  DispatchStateStore,
  MAX_RECORDS_PER_ISSUE,
  parseStateFile,
} from './state/dispatch-state.js';
export { dispatchFingerprint, type FingerprintInput } from './state/fingerprint.js';
