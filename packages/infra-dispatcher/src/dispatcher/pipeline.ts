import { AppError, type EventEnvelope, isAppError } from '@33god/core';
import {
  type CheckOutcome,
  type ComponentCheckOptions,
  checkFailed,
  describeCheck,
  runComponentCheck,
} from '../checks/component-check.js';
import type { DispatcherConfig } from '../config.js';
import { buildAgentRequest, sessionKeyFor } from '../dispatch/message.js';
import type { DispatchReceipt, OpenClawClient } from '../dispatch/openclaw-client.js';
import { evaluateGate } from '../gate/ready-gate.js';
import { type PlaneWorkItem, readPlaneWorkItem } from '../plane/work-item.js';
import type { DispatchStateStore } from '../state/dispatch-state.js';
import { dispatchFingerprint } from '../state/fingerprint.js';
import {
  checkReports,
  DISPATCH_EVENT_TYPES,
  type DispatchCompletedPayload,
  type DispatchFailedPayload,
  type DispatchSkippedPayload,
  type SkipReason,
  type TicketFields,
} from './events.js';
import { KeyedLock } from './keyed-lock.js';

/**
 * The dispatcher's work for one `webhook.plane.*` event, independent of any bus:
 * read the work item → ready gate → already dispatched? → component check →
 * OpenClaw → record → `infra.dispatch.completed`. The caller provides `publish`
 * (inside a bus handler, so the published events inherit the correlation) and maps a
 * thrown `AppError` to the bus's retry decision: `DISPATCH_REJECTED` is final,
 * `DISPATCH_FAILED` may be retried.
 */

export type PublishFn = (eventType: string, payload: Record<string, unknown>) => Promise<unknown>;

export interface PipelineLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface DispatchPipelineOptions {
  readonly config: DispatcherConfig;
  readonly state: DispatchStateStore;
  readonly client: OpenClawClient;
  readonly publish: PublishFn;
  /** Timeout and output overrides for the component checks. */
  readonly checks?: ComponentCheckOptions;
  readonly logger?: PipelineLogger;
  /** Aborts OpenClaw retries when the dispatcher stops. */
  readonly signal?: AbortSignal;
}

export type DispatchOutcome =
  | {
      readonly kind: 'dispatched';
      readonly issueId: string;
      readonly fingerprint: string;
      readonly attempts: number;
    }
  | {
      readonly kind: 'skipped';
      readonly reason: SkipReason;
      readonly detail: string;
      readonly issueId: string;
    }
  /** Not a work item, or an action (deletion) that never dispatches: nothing to say on the bus. */
  | { readonly kind: 'ignored'; readonly detail: string }
  /** Dispatched earlier, but the completed event was not out yet: it was published now. */
  | { readonly kind: 'announced'; readonly issueId: string; readonly fingerprint: string };

export interface DispatchActivity {
  readonly at: string;
  readonly issue_id: string;
  readonly ticket: string;
}

export interface DispatchStats {
  handled: number;
  dispatched: number;
  skipped: number;
  ignored: number;
  failed: number;
  lastDispatch: DispatchActivity | null;
  lastError: { at: string; message: string; issue_id?: string } | null;
}

export interface DispatchPipeline {
  handle(event: Pick<EventEnvelope, 'event_id' | 'event_type' | 'payload'>): Promise<DispatchOutcome>;
  readonly stats: Readonly<DispatchStats>;
}

const silent: PipelineLogger = { info() {}, warn() {}, error() {} };

export function createDispatchPipeline(opts: DispatchPipelineOptions): DispatchPipeline {
  const { config, state, client, publish } = opts;
  const log = opts.logger ?? silent;
  const lock = new KeyedLock();
  const stats: DispatchStats = {
    handled: 0,
    dispatched: 0,
    skipped: 0,
    ignored: 0,
    failed: 0,
    lastDispatch: null,
    lastError: null,
  };

  async function skip(
    ticket: TicketFields,
    reason: SkipReason,
    reasons: readonly string[],
    extra: { missingLabels?: readonly string[]; fingerprint?: string; check?: CheckOutcome } = {},
  ): Promise<DispatchOutcome> {
    const detail = reasons[0] ?? reason;
    const payload: DispatchSkippedPayload = {
      ...ticket,
      reason,
      detail,
      reasons: [...reasons],
      missing_labels: [...(extra.missingLabels ?? [])],
      checks: checkReports(extra.check),
      fingerprint: extra.fingerprint ?? null,
    };
    await publish(DISPATCH_EVENT_TYPES.skipped, payload);
    stats.skipped++;
    log.info(
      { issue_id: ticket.issue_id, ticket: ticket.ticket_ref, reason, detail },
      'ticket not dispatched',
    );
    return { kind: 'skipped', reason, detail, issueId: ticket.issue_id };
  }

  function ignore(detail: string, eventType: string): DispatchOutcome {
    stats.ignored++;
    log.info({ event_type: eventType, detail }, 'event ignored');
    return { kind: 'ignored', detail };
  }

  async function handle(
    event: Pick<EventEnvelope, 'event_id' | 'event_type' | 'payload'>,
  ): Promise<DispatchOutcome> {
    stats.handled++;
    const read = readPlaneWorkItem(event.payload);
    if (!read.ok) return ignore(read.reason, event.event_type);
    const item = read.item;
    const gate = evaluateGate(item, config);
    const ticket = ticketFields(item, gate.component, gate.agents);
    if (!gate.ready) {
      if (!gate.actionDispatchable)
        return ignore(gate.reasons[0] ?? 'action not dispatched', event.event_type);
      return skip(ticket, gate.stateReady ? 'labels_missing' : 'state_not_ready', gate.reasons, {
        missingLabels: gate.missingLabels,
      });
    }

    const fingerprint = dispatchFingerprint({
      issueId: item.id,
      state: gate.matchedState,
      readyLabels: config.readyLabels,
      component: gate.component,
      agents: gate.agents,
    });

    return lock.run(item.id, async () => {
      const existing = state.find(item.id, fingerprint);
      // A `sending` record: a process stopped before OpenClaw's answer was recorded, or every attempt
      // ended without an answer. OpenClaw may have the ticket. It is sent again (a lost dispatch is
      // worse than a repeated one) and the completed event says it may be a duplicate.
      const inherited = existing?.sending === true;
      if (existing && inherited) {
        log.warn(
          { issue_id: item.id, ticket: item.ticketRef, since: existing.dispatched_at },
          'an earlier send of this ticket ended without a known outcome; sending it again (OpenClaw may get it twice)',
        );
      } else if (existing) {
        if (!existing.announced) {
          // Dispatched, but the process stopped before the completed event went out: send that, not the ticket.
          await publishCompleted(
            ticket,
            fingerprint,
            existing.dispatched_at,
            {
              status: existing.http_status ?? 200,
              attempts: 0,
              response: '',
              uncertain: false,
            },
            undefined,
            existing.possible_duplicate === true,
          );
          await markAnnounced(item.id, fingerprint);
          return { kind: 'announced', issueId: item.id, fingerprint };
        }
        return skip(
          ticket,
          'already_dispatched',
          [`already dispatched at ${existing.dispatched_at} with the same fingerprint (${fingerprint})`],
          { fingerprint },
        );
      }

      const check = await runComponentCheck(config, gate.component, {
        ...opts.checks,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      if (opts.signal?.aborted) throw stopping();
      if (config.checkMode === 'block' && checkFailed(check)) {
        return skip(ticket, 'check_failed', [`blocked by the component check: ${describeCheck(check)}`], {
          fingerprint,
          check,
        });
      }

      const request = buildAgentRequest(
        { item, agents: gate.agents, check, ...opt('component', gate.component) },
        config,
      );
      const identity = {
        fingerprint,
        ticket: item.ticketRef,
        event_id: event.event_id,
        session_key: request.sessionKey,
      };
      if (!inherited) {
        await saveOrNote(
          () => state.markSending(item.id, { ...identity, dispatched_at: new Date().toISOString() }),
          item.id,
          'the state file could not note the dispatch about to be sent',
        );
      }
      let receipt: DispatchReceipt;
      try {
        receipt = await client.dispatch(request, opts.signal);
      } catch (err) {
        // No attempt can have reached OpenClaw: forget the note, the next delivery is a first send.
        if (!inherited && !(isAppError(err) && err.extra.uncertain === true)) {
          await saveOrNote(
            () => state.clearSending(item.id, fingerprint),
            item.id,
            'the state file could not clear the note of a failed dispatch',
          );
        }
        if (isAppError(err) && err.extra.stopping === true) throw stopping(err);
        await reportFailure(err, ticket, fingerprint, check);
        throw err;
      }

      const dispatchedAt = new Date().toISOString();
      const possibleDuplicate = inherited || receipt.uncertain;
      // OpenClaw has the ticket; failing the delivery now would send it again. If the write fails, the
      // record is kept in memory (this process will not repeat it) and /health reports the state file.
      await saveOrNote(
        () =>
          state.record(item.id, {
            ...identity,
            dispatched_at: dispatchedAt,
            http_status: receipt.status,
            announced: false,
            ...(possibleDuplicate ? { possible_duplicate: true as const } : {}),
          }),
        item.id,
        'dispatch accepted but the state file could not be written',
      );
      stats.dispatched++;
      stats.lastDispatch = { at: dispatchedAt, issue_id: item.id, ticket: item.ticketRef };
      log.info(
        {
          issue_id: item.id,
          ticket: item.ticketRef,
          attempts: receipt.attempts,
          possible_duplicate: possibleDuplicate,
        },
        'ticket dispatched',
      );
      await publishCompleted(ticket, fingerprint, dispatchedAt, receipt, check, possibleDuplicate);
      await markAnnounced(item.id, fingerprint);
      return { kind: 'dispatched', issueId: item.id, fingerprint, attempts: receipt.attempts };
    });
  }

  async function saveOrNote(write: () => Promise<void>, issueId: string, msg: string): Promise<void> {
    try {
      await write();
    } catch (err) {
      noteError(err, issueId);
      log.error({ err, issue_id: issueId }, msg);
    }
  }

  async function publishCompleted(
    ticket: TicketFields,
    fingerprint: string,
    dispatchedAt: string,
    receipt: DispatchReceipt,
    check: CheckOutcome | undefined,
    possibleDuplicate: boolean,
  ): Promise<void> {
    const payload: DispatchCompletedPayload = {
      ...ticket,
      checks: checkReports(check),
      http_status: receipt.status,
      run_id: runIdOf(receipt.response),
      attempts: receipt.attempts,
      fingerprint,
      session_key: sessionKeyFor(ticket.issue_id),
      dispatched_at: dispatchedAt,
      possible_duplicate: possibleDuplicate,
    };
    await publish(DISPATCH_EVENT_TYPES.completed, payload);
  }

  function markAnnounced(issueId: string, fingerprint: string): Promise<void> {
    return saveOrNote(
      () => state.markAnnounced(issueId, fingerprint),
      issueId,
      'could not record that the completed event was published',
    );
  }

  async function reportFailure(
    err: unknown,
    ticket: TicketFields,
    fingerprint: string,
    check: CheckOutcome,
  ): Promise<void> {
    stats.failed++;
    noteError(err, ticket.issue_id);
    const e = isAppError(err) ? err : new AppError('DISPATCH_FAILED', String(err));
    const payload: DispatchFailedPayload = {
      ...ticket,
      error_class: e.code,
      error_message: (e.detail ?? e.message).slice(0, 4096),
      http_status: typeof e.extra.status === 'number' ? e.extra.status : null,
      retryable: e.retryable,
      attempts: typeof e.extra.attempts === 'number' ? e.extra.attempts : 0,
      checks: checkReports(check),
      fingerprint,
      session_key: sessionKeyFor(ticket.issue_id),
    };
    log.warn({ issue_id: ticket.issue_id, code: e.code, reason: payload.error_message }, 'dispatch failed');
    try {
      await publish(DISPATCH_EVENT_TYPES.failed, payload);
    } catch (publishErr) {
      // The delivery fails either way; the dead letter or the retry still carries the reason.
      log.error({ err: publishErr }, 'could not publish infra.dispatch.failed');
    }
  }

  function noteError(err: unknown, issueId?: string): void {
    const message = err instanceof Error ? err.message : String(err);
    stats.lastError = { at: new Date().toISOString(), message, ...(issueId ? { issue_id: issueId } : {}) };
  }

  return { handle, stats };
}

/** Thrown when the dispatcher stops in the middle of an event: nothing was sent, the event should be handled again. */
function stopping(cause?: unknown): AppError {
  return new AppError('SERVICE_UNAVAILABLE', 'the dispatcher is stopping; the event was not dispatched', {
    ...(cause === undefined ? {} : { cause }),
    extra: { stopping: true },
  });
}

export function ticketFields(
  item: PlaneWorkItem,
  component: string | undefined,
  agents: readonly string[],
): TicketFields {
  return {
    issue_id: item.id,
    issue_name: item.title,
    project_id: item.projectId ?? null,
    component: component ?? null,
    agent: agents[0] ?? null,
    agents: [...agents],
    ticket_ref: item.ticketRef,
    state: item.state?.display ?? null,
    state_group: item.state?.group ?? null,
    labels: item.labels.map((l) => l.display),
    url: item.url ?? null,
    plane_event: `${item.entity}.${item.action}`,
  };
}

/** OpenClaw answers `{ runId }` (or `run_id`) for an agent run; anything else has none. */
function runIdOf(response: string): string | null {
  try {
    const v = JSON.parse(response) as Record<string, unknown>;
    const id = v.runId ?? v.run_id ?? v.id;
    return typeof id === 'string' && id ? id : null;
  } catch {
    return null;
  }
}

function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
