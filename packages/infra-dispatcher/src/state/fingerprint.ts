import { createHash } from 'node:crypto';
import { slugify } from '../gate/matching.js';

/**
 * What makes two dispatches of one issue "the same": the issue id, the ready state it
 * was in, the labels that decide whether and where it goes (the ready labels, the
 * component and the agents) and the component. Title, description, comments and
 * `updated_at` are left out on purpose: Plane sends an `updated` webhook for every
 * edit, and re-dispatching a ticket because someone fixed a typo in its title would
 * start a second agent run on work that is already under way. A change that matters
 * (another component, another agent, the ticket leaving and re-entering a different
 * ready state) gives a new fingerprint and is dispatched again.
 *
 * Every part is slugified, so the fingerprint does not depend on how Plane spelled
 * a state or label in one payload (object or id, name or slug, case).
 */
export interface FingerprintInput {
  readonly issueId: string;
  readonly state: string;
  readonly readyLabels: readonly string[];
  readonly component?: string | undefined;
  readonly agents: readonly string[];
}

export function dispatchFingerprint(input: FingerprintInput): string {
  const labels = [
    ...input.readyLabels.map((l) => `label:${slugify(l)}`),
    ...(input.component ? [`component:${slugify(input.component)}`] : []),
    ...input.agents.map((a) => `agent:${slugify(a)}`),
  ];
  const canonical = JSON.stringify([
    input.issueId,
    slugify(input.state),
    [...new Set(labels)].sort(),
    input.component ? slugify(input.component) : null,
  ]);
  return `sha256:${createHash('sha256').update(canonical).digest('hex').slice(0, 32)}`;
}
