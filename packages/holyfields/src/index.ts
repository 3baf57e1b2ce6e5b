export { bundleEntry, bundleRegistry } from './bundle/bundle.js';
export {
  consumersOf,
  loadServiceRegistry,
  parseServiceRegistry,
  producersOf,
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
