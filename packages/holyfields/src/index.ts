export { bundleEntry, bundleRegistry } from './bundle/bundle.js';
export { type CatalogEntry, catalogEntries, catalogHtml } from './catalog/catalog.js';
export { type BreakingChange, type CompatMode, checkCompatibility } from './check/compat.js';
export {
  type GenerateLanguage,
  type GenerateOptions,
  generateFiles,
  writeGenerated,
} from './generate/index.js';
export { GENERATED_HEADER } from './generate/typescript.js';
export {
  isPastTense,
  type LintFinding,
  type LintOptions,
  lintTree,
  PAST_TENSE_ALLOWLIST,
} from './lint/lint.js';
export {
  consumersOf,
  loadServiceRegistry,
  type PushSettings,
  parseServiceRegistry,
  producersOf,
  pushProblems,
  type QueueSettings,
  type ServiceDefinition,
  type ServiceRegistry,
} from './registry/service-registry.js';
export type { SchemaKind } from './schema/events.js';
export {
  type EventSchemaInfo,
  type LoadSchemaTreeOptions,
  loadSchemaTree,
  SchemaRegistry,
  type ValidationResult,
} from './schema/registry.js';
