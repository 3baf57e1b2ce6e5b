import type { DispatcherConfig } from '../config.js';
import type { PlaneWorkItem } from '../plane/work-item.js';
import { namedMatches, slugify, valueAfterPrefix } from './matching.js';

export type GateConfig = Pick<
  DispatcherConfig,
  'readyStates' | 'readyLabels' | 'componentLabelPrefix' | 'agentLabelPrefix'
>;

/** Actions after which a work item can be dispatched; deletions and the rest never are. */
export const DISPATCHABLE_ACTIONS: readonly string[] = ['created', 'updated'];

export type GateDecision =
  | {
      readonly ready: true;
      /** The configured ready state that matched (stable across Plane's payload shapes). */
      readonly matchedState: string;
      readonly component?: string;
      readonly agents: readonly string[];
    }
  | {
      readonly ready: false;
      /** Every reason, most important first; `reasons[0]` is the headline. */
      readonly reasons: readonly string[];
      /** False for deletions and other actions that never dispatch. */
      readonly actionDispatchable: boolean;
      readonly stateReady: boolean;
      /** The configured ready labels the item lacks. */
      readonly missingLabels: readonly string[];
      readonly component?: string;
      readonly agents: readonly string[];
    };

/**
 * The ready gate: the state is one of the ready states AND the item carries EVERY
 * ready label. (The original accepted a ticket carrying any one of them, so
 * `ready` alone was enough to hand a ticket to an agent.)
 */
export function evaluateGate(item: PlaneWorkItem, cfg: GateConfig): GateDecision {
  const component = componentOf(item, cfg.componentLabelPrefix);
  const agents = agentsOf(item, cfg.agentLabelPrefix);
  const extra = { ...(component === undefined ? {} : { component }), agents };
  const reasons: string[] = [];
  const missingLabels: string[] = [];
  const actionDispatchable = DISPATCHABLE_ACTIONS.includes(item.action);

  if (!actionDispatchable) {
    reasons.push(`action '${item.action}' is not dispatched (only ${DISPATCHABLE_ACTIONS.join(', ')})`);
  }

  const states = cfg.readyStates.map((s) => s.trim()).filter(Boolean);
  const matchedState = item.state ? states.find((s) => namedMatches(item.state!, s)) : undefined;
  if (!item.state) {
    reasons.push(`state unknown (the payload names no state) not in [${states.join(', ')}]`);
  } else if (matchedState === undefined) {
    reasons.push(`state ${describeState(item.state)} not in [${states.join(', ')}]`);
  }

  for (const wanted of cfg.readyLabels.map((l) => l.trim()).filter(Boolean)) {
    if (!item.labels.some((l) => namedMatches(l, wanted))) {
      missingLabels.push(wanted);
      reasons.push(`missing label '${wanted}'`);
    }
  }

  if (reasons.length > 0 || matchedState === undefined) {
    return {
      ready: false,
      reasons,
      actionDispatchable,
      stateReady: matchedState !== undefined,
      missingLabels,
      ...extra,
    };
  }
  return { ready: true, matchedState: slugify(matchedState), ...extra };
}

/** The component named by the first `comp:` label (lowercased), if any. */
export function componentOf(item: PlaneWorkItem, prefix: string): string | undefined {
  for (const l of item.labels) {
    const v = valueAfterPrefix(l, prefix);
    if (v) return v;
  }
  return undefined;
}

/** Every agent named by an `agent:` label, lowercased, sorted, without repeats. */
export function agentsOf(item: PlaneWorkItem, prefix: string): string[] {
  const out = new Set<string>();
  for (const l of item.labels) {
    const v = valueAfterPrefix(l, prefix);
    if (v) out.add(v);
  }
  return [...out].sort();
}

function describeState(state: NonNullable<PlaneWorkItem['state']>): string {
  if (state.group && state.display && state.group.toLowerCase() !== state.display.toLowerCase()) {
    return `'${state.display}' (group '${state.group}')`;
  }
  return `'${state.display}'`;
}
