import type {
  InfraDispatchCompletedV1Payload,
  InfraDispatchFailedV1Payload,
  InfraDispatchSkippedV1Payload,
} from '@33god/events';
import type { CheckOutcome } from '../checks/component-check.js';
import type { CheckResult } from '../checks/run-check.js';

/**
 * Event types the dispatcher publishes. Their payload types come from the schemas
 * (`schemas/infra/dispatch.{completed,skipped,failed}.v1.json`, generated into `@33god/events`);
 * the payloads below add a few members (the schemas allow extra members) that make an event
 * readable on its own: the ticket reference, the labels, the specific reason text, the fingerprint.
 */
export const DISPATCH_EVENT_TYPES = {
  completed: 'infra.dispatch.completed',
  skipped: 'infra.dispatch.skipped',
  failed: 'infra.dispatch.failed',
} as const;

/** The routing pattern the dispatcher consumes. */
export const PLANE_WEBHOOK_PATTERN = 'webhook.plane.#';

/** The ticket members every dispatch schema names; the dispatcher always fills them. */
type SchemaTicket = Required<
  Pick<InfraDispatchCompletedV1Payload, 'issue_id' | 'issue_name' | 'project_id' | 'component' | 'agent'>
>;

/** The ticket as the dispatcher understood it; the common part of every payload. */
export type TicketFields = SchemaTicket & {
  /** Every agent label; `agent` is the first (the one OpenClaw is asked to route to). */
  agents: string[];
  ticket_ref: string;
  state: string | null;
  state_group: string | null;
  labels: string[];
  url: string | null;
  /** `issue.updated`, `workitem.created`, … */
  plane_event: string;
};

type SchemaCheck = NonNullable<InfraDispatchCompletedV1Payload['checks']>[number];

/** The schemas' longest `output_tail`, in characters. */
const MAX_OUTPUT_TAIL = 8192;

/** One component check as the schemas describe it, plus how it ended. */
export type CheckReport = Required<
  Pick<SchemaCheck, 'name' | 'exit_code' | 'duration_ms' | 'timed_out' | 'output_tail'>
> & {
  status: CheckResult['status'];
  command: string;
  cwd: string;
  reason?: string;
};

/** The schema's reason codes; the specific text is in `detail`. */
export type SkipReason = InfraDispatchSkippedV1Payload['reason'];

export type DispatchCompletedPayload = InfraDispatchCompletedV1Payload &
  TicketFields & {
    checks: CheckReport[];
    run_id: string | null;
    attempts: number;
    fingerprint: string;
    session_key: string;
    dispatched_at: string;
    /** OpenClaw may have received the ticket more than once (an attempt or a process ended without its answer). */
    possible_duplicate: boolean;
  };

export type DispatchSkippedPayload = InfraDispatchSkippedV1Payload &
  TicketFields & {
    /** The headline reason in words, e.g. "missing label 'automation:go'". */
    detail: string;
    /** Every reason in words. */
    reasons: string[];
    missing_labels: string[];
    checks: CheckReport[];
    fingerprint: string | null;
  };

export type DispatchFailedPayload = InfraDispatchFailedV1Payload &
  TicketFields & {
    /** `DISPATCH_REJECTED` (OpenClaw refused: dead-lettered) or `DISPATCH_FAILED` (retried). */
    error_class: string;
    http_status: number | null;
    attempts: number;
    checks: CheckReport[];
    fingerprint: string;
    session_key: string;
  };

export function checkReports(outcome: CheckOutcome | undefined): CheckReport[] {
  if (!outcome || !('command' in outcome)) return [];
  return [
    {
      name: outcome.component,
      exit_code: outcome.exit_code,
      duration_ms: outcome.duration_ms,
      timed_out: outcome.timed_out,
      output_tail: lastChars(outcome.output_tail, MAX_OUTPUT_TAIL),
      status: outcome.status,
      command: outcome.command,
      cwd: outcome.cwd,
      ...(outcome.reason === undefined ? {} : { reason: outcome.reason }),
    },
  ];
}

/** The end of `text`, at most `max` code points (a redacted or widened tail can outgrow its bytes). */
function lastChars(text: string, max: number): string {
  if (text.length <= max) return text;
  const points = [...text];
  return points.length <= max ? text : points.slice(-max).join('');
}
