import type { CheckOutcome } from '../checks/component-check.js';
import { describeCheck } from '../checks/component-check.js';
import type { DispatcherConfig } from '../config.js';
import type { PlaneWorkItem } from '../plane/work-item.js';

/** The body of OpenClaw's `POST /hooks/agent`. */
export interface OpenClawAgentRequest {
  /** The prompt the agent works from. */
  readonly message: string;
  /** Prefix OpenClaw shows in the session summary. */
  readonly name: string;
  /** One session per ticket, so follow-ups on the same ticket land in the same conversation. */
  readonly sessionKey: string;
  readonly wakeMode: 'now' | 'next-heartbeat';
  readonly deliver: boolean;
  readonly timeoutSeconds: number;
  /** Set from the ticket's first `agent:` label, so OpenClaw routes the run to that agent. */
  readonly agentId?: string;
}

export const HOOK_NAME = 'TeamInfraDispatch';

export const sessionKeyFor = (issueId: string): string => `hook:infra:${issueId}`;

export interface DispatchTicket {
  readonly item: PlaneWorkItem;
  readonly component?: string;
  readonly agents: readonly string[];
  readonly check?: CheckOutcome;
}

export function buildAgentRequest(
  ticket: DispatchTicket,
  cfg: Pick<DispatcherConfig, 'hookDeliver' | 'hookTimeoutSeconds' | 'checkMode'>,
): OpenClawAgentRequest {
  const agentId = ticket.agents[0];
  return {
    message: buildMessage(ticket, cfg.checkMode),
    name: HOOK_NAME,
    sessionKey: sessionKeyFor(ticket.item.id),
    wakeMode: 'now',
    deliver: cfg.hookDeliver,
    timeoutSeconds: cfg.hookTimeoutSeconds,
    ...(agentId ? { agentId } : {}),
  };
}

export function buildMessage(
  ticket: DispatchTicket,
  checkMode: DispatcherConfig['checkMode'] = 'report',
): string {
  const { item } = ticket;
  const labels = item.labels.map((l) => l.display).filter(Boolean);
  const lines = [
    'Team Infra dispatch from Plane (via Bloodbank).',
    '',
    `Ticket: ${item.ticketRef}`,
    `Issue id: ${item.id}`,
    `Title: ${item.title}`,
    `State: ${item.state ? item.state.display : '(unknown)'}${item.state?.group ? ` (${item.state.group})` : ''}`,
    `Labels: ${labels.length > 0 ? labels.join(', ') : '(none)'}`,
    `Component: ${ticket.component ?? '(none: add a comp:<component> label)'}`,
    `Agents: ${ticket.agents.length > 0 ? ticket.agents.join(', ') : '(none)'}`,
    `URL: ${item.url ?? '(not provided)'}`,
  ];
  const check = ticket.check;
  if (check) {
    lines.push('', 'Component check:', `- Result: ${describeCheck(check)}`);
    if ('command' in check) {
      lines.push(`- Command: ${check.command}`, `- Working directory: ${check.cwd}`);
      lines.push(`- Exit code: ${check.exit_code ?? '(none)'}`, `- Duration: ${check.duration_ms} ms`);
      if (check.status !== 'passed' && check.output_tail.trim()) {
        lines.push('', 'Output (tail):', check.output_tail.trimEnd());
      }
    }
    if (check.status !== 'passed' && 'command' in check && checkMode === 'report') {
      lines.push('', 'The check did not pass; it is reported here rather than blocking the dispatch.');
    }
  }
  return lines.join('\n');
}
