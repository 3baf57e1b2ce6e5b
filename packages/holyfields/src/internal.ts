export { buildModel, type EventModel, type IR, type Model, type NamedDef } from './generate/ir.js';
export { createAjv, toViolations } from './schema/ajv.js';
export { readSchemaTree } from './schema/registry.js';
export { SchemaTree } from './schema/tree.js';
