import type { CheckOutcome } from '../checks/component-check.js';
import type { CheckResult } from '../checks/run-check.js';

/**
 * Event types the dispatcher publishes. Their schemas are
 * `schemas/infra/dispatch.{completed,skipped,failed}.v1.json`; the payloads below
 * carry every member those schemas name plus a few more (the schemas allow extra
 * members) that make an event readable on its own: the ticket reference, the labels,
 * the specific reason text, the fingerprint.
 */
export const DISPATCH_EVENT_TYPES = {
  completed: 'infra.dispatch.completed',
  skipped: 'infra.dispatch.skipped',
  failed: 'infra.dispatch.failed',
} as const;

/** The routing pattern the dispatcher consumes. */
export const PLANE_WEBHOOK_PATTERN = 'webhook.plane.#';

/** The ticket as the dispatcher understood it; the common part of every payload. */
export interface TicketFields {
  issue_id: string;
  issue_name: string | null;
  project_id: string | null;
  component: string | null;
  /** The first agent label (the one OpenClaw is asked to route to). */
  agent: string | null;
  agents: string[];
  ticket_ref: string;
  state: string | null;
  state_group: string | null;
  labels: string[];
  url: string | null;
  /** `issue.updated`, `workitem.created`, … */
  plane_event: string;
}

/** One component check as the schemas describe it, plus how it ended. */
export interface CheckReport {
  name: string;
  exit_code: number | null;
  duration_ms: number;
  timed_out: boolean;
  output_tail: string;
  status: CheckResult['status'];
  command: string;
  cwd: string;
  reason?: string;
}

/** The schema's reason codes; the specific text is in `detail`. */
export type SkipReason =
  | 'state_not_ready'
  | 'labels_missing'
  | 'no_component'
  | 'check_failed'
  | 'already_dispatched';

export interface DispatchCompletedPayload extends TicketFields {
  checks: CheckReport[];
  http_status: number;
  run_id: string | null;
  attempts: number;
  fingerprint: string;
  session_key: string;
  dispatched_at: string;
  /** OpenClaw may have received the ticket more than once (an attempt or a process ended without its answer). */
  possible_duplicate: boolean;
}

export interface DispatchSkippedPayload extends TicketFields {
  reason: SkipReason;
  /** The headline reason in words, e.g. "missing label 'automation:go'". */
  detail: string;
  /** Every reason in words. */
  reasons: string[];
  missing_labels: string[];
  checks: CheckReport[];
  fingerprint: string | null;
}

export interface DispatchFailedPayload extends TicketFields {
  /** `DISPATCH_REJECTED` (OpenClaw refused: dead-lettered) or `DISPATCH_FAILED` (retried). */
  error_class: string;
  error_message: string;
  http_status: number | null;
  retryable: boolean;
  attempts: number;
  checks: CheckReport[];
  fingerprint: string;
  session_key: string;
}

export function checkReports(outcome: CheckOutcome | undefined): CheckReport[] {
  if (!outcome || !('command' in outcome)) return [];
  return [
    {
      name: outcome.component,
      exit_code: outcome.exit_code,
      duration_ms: outcome.duration_ms,
      timed_out: outcome.timed_out,
      output_tail: outcome.output_tail,
      status: outcome.status,
      command: outcome.command,
      cwd: outcome.cwd,
      ...(outcome.reason === undefined ? {} : { reason: outcome.reason }),
    },
  ];
}
