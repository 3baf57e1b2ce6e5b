import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConnectOptions, connect } from '../../src/sdk/bus.js';
import type { Bus } from '../../src/sdk/types.js';
import type { Transport } from '../../src/transport/transport.js';
import { type Backend, TestNames } from './backends.js';

export interface Harness {
  names: TestNames;
  transport: Transport;
  bus: Bus;
  /** Closes the bus and the transport and deletes what the test declared. */
  done(): Promise<void>;
}

export async function harness(backend: Backend, options: Partial<ConnectOptions> = {}): Promise<Harness> {
  const names = new TestNames();
  const transport = await backend.transport();
  const bus = await connect({ app: 'bloodbank-test', transport, topology: names.topology, ...options });
  return {
    names,
    transport,
    bus,
    async done() {
      await bus.close();
      await transport.close();
      await names.cleanup(backend.name);
    },
  };
}

/** A real schema tree on disk with one event type, `test.thing.created` (payload `{ name: string }`). */
export function schemaDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bb-schemas-'));
  mkdirSync(join(dir, 'test', 'thing'), { recursive: true });
  writeFileSync(
    join(dir, 'test', 'thing', 'created.v1.json'),
    JSON.stringify({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      title: 'A thing was created',
      type: 'object',
      required: ['name'],
      properties: { name: { type: 'string' }, size: { type: 'integer', minimum: 0 } },
      additionalProperties: false,
    }),
  );
  return dir;
}
