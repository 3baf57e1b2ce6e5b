import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestNames } from '../sdk/backends.js';

/** A registry file in the original format, with this test's queue names. */
export function writeRegistry(names: TestNames): {
  path: string;
  queues: { orders: string; audit: string; mail: string };
} {
  const queues = { orders: names.queue('orders'), audit: names.queue('audit'), mail: names.queue('mail') };
  const old = names.queue('old');
  const yaml = `version: "1.0"
exchange:
  name: "${names.topology.exchange}"
  type: "topic"
  durable: true
services:
  orders:
    name: "orders"
    type: "event-consumer"
    queue_name: "${queues.orders}"
    routing_keys:
      - "order.#"
      - "payment.captured"
    status: "active"
  audit:
    name: "audit"
    type: "event-consumer"
    queue_name: "${queues.audit}"
    routing_keys:
      - "#"
    status: "planned"
  mail:
    name: "mail"
    type: "event-consumer"
    queue_name: "${queues.mail}"
    routing_keys:
      - "mail.*.requested"
    status: "active"
  retired:
    name: "retired"
    type: "event-consumer"
    queue_name: "${old}"
    routing_keys:
      - "legacy.#"
    status: "deprecated"
`;
  const dir = mkdtempSync(join(tmpdir(), 'bb-registry-'));
  const path = join(dir, 'registry.yaml');
  writeFileSync(path, yaml);
  return { path, queues };
}
