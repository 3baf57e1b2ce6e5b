/**
 * Push subscriptions as the gateway's /health reports them (`push`, docs/push.md), matched to
 * registry services by id.
 */

export type PushState = 'starting' | 'delivering' | 'retrying' | 'paused' | 'probing' | 'stopped';

export interface PushFailure {
  at: string;
  status: number | null;
  reason: string;
}

export interface PushStatus {
  service: string;
  queue: string;
  url: string;
  state: PushState;
  ordered: boolean;
  concurrency: number;
  signed: boolean;
  delivered: number;
  failed: number;
  rejected: number;
  consecutive_failures: number;
  probe_at: string | null;
  recent_failures: PushFailure[];
}

/** The subscriptions of a gateway health report by service id (none when the report has none). */
export function pushById(report: { push?: unknown } | null | undefined): Map<string, PushStatus> {
  const list = Array.isArray(report?.push) ? (report.push as PushStatus[]) : [];
  return new Map(list.filter((p) => typeof p?.service === 'string').map((p) => [p.service, p]));
}

/** A short label for a node: the state, and the failures in a row when there are any. */
export function pushLabel(status: PushStatus | undefined): string {
  if (!status) return 'push';
  const failing = status.consecutive_failures > 0 ? ` · ${status.consecutive_failures} failing` : '';
  return `push ${status.state}${failing}`;
}
