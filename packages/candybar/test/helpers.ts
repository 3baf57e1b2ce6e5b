import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseServiceRegistry } from '@33god/holyfields';
import { toViewRegistry } from '../src/registry/load-registry.js';
import type { Registry } from '../src/registry/types.js';
import type { StoredEvent } from '../web/src/logic/types.js';

/** The original 20-service registry, used as it is. */
export const FIXTURE_REGISTRY = resolve(
  import.meta.dirname,
  '../../../../shared/fixtures/registry/registry.seed-c53b8c0.yaml',
);

export function fixtureRegistry(): Registry {
  return toViewRegistry(parseServiceRegistry(readFileSync(FIXTURE_REGISTRY, 'utf8'), FIXTURE_REGISTRY));
}

let seq = 0;
export function storedEvent(over: Partial<StoredEvent> & { event_type: string }): StoredEvent {
  seq++;
  return {
    position: String(seq),
    event_id: over.event_id ?? `00000000-0000-7000-8000-${String(seq).padStart(12, '0')}`,
    timestamp: over.timestamp ?? new Date(Date.UTC(2026, 0, 1, 0, 0, 0, seq)).toISOString(),
    version: '1.0.0',
    source: { app: 'test-app', host: 'h', trigger_type: 'manual' },
    correlation_id: null,
    causation_id: null,
    payload: {},
    ...over,
  };
}

/** A port that nothing listens on right now. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolvePort) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolvePort(port));
    });
  });
}

export async function waitFor<T>(
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
}
