import type { Registry } from '../registry/types.js';

export interface ServiceHealth {
  id: string;
  url: string | null;
  status: 'up' | 'down' | 'unknown';
  http_status: number | null;
  latency_ms: number | null;
  detail?: string;
}

/**
 * Probes each service's `endpoints.health` in parallel with a short timeout. Any 2xx is
 * up; a non-2xx answer or no answer is down; a service without a health endpoint (or
 * with a non-HTTP one) is unknown rather than guessed.
 */
export async function probeServices(reg: Registry, timeoutMs: number): Promise<ServiceHealth[]> {
  return Promise.all(
    reg.services.map(async (s): Promise<ServiceHealth> => {
      const url = s.endpoints.health ?? null;
      if (!url || !/^https?:\/\//.test(url)) {
        return {
          id: s.id,
          url,
          status: 'unknown',
          http_status: null,
          latency_ms: null,
          detail: 'no HTTP health endpoint',
        };
      }
      const t0 = performance.now();
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
        await res.arrayBuffer().catch(() => undefined);
        const latency = Math.round(performance.now() - t0);
        return {
          id: s.id,
          url,
          status: res.ok ? 'up' : 'down',
          http_status: res.status,
          latency_ms: latency,
          ...(res.ok ? {} : { detail: `answered ${res.status}` }),
        };
      } catch (err) {
        const timedOut = err instanceof Error && err.name === 'TimeoutError';
        return {
          id: s.id,
          url,
          status: 'down',
          http_status: null,
          latency_ms: null,
          detail: timedOut ? `no answer within ${timeoutMs} ms` : 'not reachable',
        };
      }
    }),
  );
}
