import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_DISPATCHER_CONFIG,
  dispatchFingerprint,
  evaluateGate,
  readPlaneWorkItem,
} from '@33god/infra-dispatcher';
import { planeV1Issue, planeV2WorkItem } from './helpers/plane-payloads.js';

function fingerprintOf(body: unknown): string {
  const read = readPlaneWorkItem(body);
  assert.ok(read.ok);
  const d = evaluateGate(read.item, DEFAULT_DISPATCHER_CONFIG);
  assert.ok(d.ready);
  return dispatchFingerprint({
    issueId: read.item.id,
    state: d.matchedState,
    readyLabels: DEFAULT_DISPATCHER_CONFIG.readyLabels,
    component: d.component,
    agents: d.agents,
  });
}

describe('dispatch fingerprint', { timeout: 10_000 }, () => {
  const id = '5f0c1d2e-3a4b-4c5d-8e6f-708192a3b4c5';

  it('is the same for v1 and v2 payloads of one ready ticket, whatever the label order or title', () => {
    const a = fingerprintOf(planeV1Issue({ id, labels: ['ready', 'automation:go', 'comp:bloodbank'] }));
    const b = fingerprintOf(planeV2WorkItem({ id, labels: ['comp:bloodbank', 'Automation:Go', 'READY'] }));
    const c = fingerprintOf(
      planeV1Issue({ id, title: 'a retitled ticket', labels: ['automation:go', 'ready', 'comp:bloodbank'] }),
    );
    assert.equal(a, b);
    assert.equal(a, c);
    assert.match(a, /^sha256:[0-9a-f]{32}$/);
  });

  it('ignores labels that do not decide dispatch', () => {
    const a = fingerprintOf(planeV1Issue({ id }));
    const b = fingerprintOf(
      planeV1Issue({ id, labels: ['ready', 'automation:go', 'comp:bloodbank', 'priority:high'] }),
    );
    assert.equal(a, b);
  });

  it('changes with the issue, the component or the agents', () => {
    const base = fingerprintOf(planeV1Issue({ id }));
    assert.notEqual(base, fingerprintOf(planeV1Issue({ id: `${id.slice(0, -1)}0` })));
    assert.notEqual(
      base,
      fingerprintOf(planeV1Issue({ id, labels: ['ready', 'automation:go', 'comp:candybar'] })),
    );
    assert.notEqual(base, fingerprintOf(planeV1Issue({ id, labels: ['ready', 'automation:go'] })));
    assert.notEqual(
      base,
      fingerprintOf(
        planeV1Issue({ id, labels: ['ready', 'automation:go', 'comp:bloodbank', 'agent:grolf'] }),
      ),
    );
  });

  it('changes with the ready state that matched', () => {
    const input = { issueId: id, readyLabels: ['ready'], agents: [] as string[] };
    assert.notEqual(
      dispatchFingerprint({ ...input, state: 'unstarted' }),
      dispatchFingerprint({ ...input, state: 'backlog' }),
    );
  });
});
