import { AppError } from '@33god/core';
import type { EventSchemaInfo } from '@33god/holyfields';
import type { FastifyInstance } from 'fastify';
import type { SchemaStore } from '../schema-store.js';

export interface SchemaSummary {
  event_type: string;
  version: number;
  title: string | null;
  description: string | null;
  kind: string;
  file: string;
}

function summary(e: EventSchemaInfo): SchemaSummary {
  return {
    event_type: e.eventType,
    version: e.version,
    title: e.title ?? null,
    description: e.description ?? null,
    kind: e.kind,
    file: e.file,
  };
}

export async function schemaRoutes(app: FastifyInstance, o: { store: SchemaStore }): Promise<void> {
  app.get(
    '/schemas',
    {
      config: { access: 'read' },
      schema: { summary: 'Event types in the loaded schema registry', tags: ['schemas'] },
    },
    async () => ({ items: o.store.schemas.list().map(summary) }),
  );
  app.get<{ Params: { event_type: string } }>(
    '/schemas/:event_type',
    {
      config: { access: 'read' },
      schema: {
        summary: 'One event type: its schema and examples',
        tags: ['schemas'],
        params: { type: 'object', properties: { event_type: { type: 'string' } } },
      },
    },
    async (request) => {
      const info = o.store.schemas.get(request.params.event_type);
      if (info === undefined) {
        throw new AppError('NOT_FOUND', `no schema for event type '${request.params.event_type}'`);
      }
      return { ...summary(info), id: info.id, schema: info.schema, examples: info.examples };
    },
  );
}
