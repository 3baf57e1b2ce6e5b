import { randomUUID } from 'node:crypto';

/**
 * Plane webhook bodies as Plane sends them (v1: `event` + `action`; v2: dot-notation
 * `event`, `delivery_id`, `event_id`, `previous_attributes`). Each builder gives a
 * ready work item by default; tests change what they need.
 */

export interface IssueOptions {
  id?: string;
  sequence?: number;
  title?: string;
  stateName?: string;
  stateGroup?: string;
  labels?: string[];
  action?: string;
}

const label = (name: string) => ({ id: randomUUID(), name, color: '#aabbcc' });

export function planeV1Issue(o: IssueOptions = {}): Record<string, unknown> {
  const id = o.id ?? randomUUID();
  return {
    event: 'issue',
    action: o.action ?? 'updated',
    webhook_id: randomUUID(),
    workspace_id: randomUUID(),
    data: {
      id,
      name: o.title ?? 'Harden the dead-letter path',
      sequence_id: o.sequence ?? 42,
      project: randomUUID(),
      project_detail: { id: randomUUID(), identifier: 'INFRA', name: 'Infra' },
      state: {
        id: randomUUID(),
        name: o.stateName ?? 'Todo',
        group: o.stateGroup ?? 'unstarted',
        color: '#3a3a3a',
      },
      labels: (o.labels ?? ['ready', 'automation:go', 'comp:bloodbank']).map(label),
      priority: 'medium',
      updated_at: new Date().toISOString(),
    },
    activity: { actor: { id: randomUUID(), display_name: 'Jarad' } },
  };
}

/** v2: state as an id with `state__group` beside it, labels as ids named in `label_details`. */
export function planeV2WorkItem(o: IssueOptions = {}): Record<string, unknown> {
  const id = o.id ?? randomUUID();
  const labels = (o.labels ?? ['ready', 'automation:go', 'comp:bloodbank']).map(label);
  return {
    event: `workitem.${o.action ?? 'created'}`,
    delivery_id: randomUUID(),
    event_id: randomUUID(),
    webhook_id: randomUUID(),
    workspace_id: randomUUID(),
    data: {
      id,
      name: o.title ?? 'Wire the candystore retention job',
      sequence_id: o.sequence ?? 7,
      project: randomUUID(),
      state: randomUUID(),
      state__group: o.stateGroup ?? 'unstarted',
      state_detail: { name: o.stateName ?? 'Todo' },
      labels: labels.map((l) => l.id),
      label_details: labels,
    },
    previous_attributes: { state: randomUUID() },
  };
}
