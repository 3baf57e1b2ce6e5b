import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_DISPATCHER_CONFIG,
  evaluateGate,
  type GateConfig,
  readPlaneWorkItem,
  sameName,
} from '@33god/infra-dispatcher';
import { planeV1Issue, planeV2WorkItem } from './helpers/plane-payloads.js';

const cfg: GateConfig = DEFAULT_DISPATCHER_CONFIG;

function gate(body: unknown, c: GateConfig = cfg) {
  const read = readPlaneWorkItem(body);
  assert.ok(read.ok, read.ok ? '' : read.reason);
  return evaluateGate(read.item, c);
}

describe('ready gate', { timeout: 10_000 }, () => {
  it('passes an unstarted ticket carrying every ready label, v1 and v2', () => {
    for (const body of [planeV1Issue(), planeV2WorkItem()]) {
      const d = gate(body);
      assert.equal(d.ready, true);
      assert.equal(d.component, 'bloodbank');
    }
  });

  it('requires EVERY ready label: one of them is not enough (the original accepted any)', () => {
    const onlyReady = gate(planeV1Issue({ labels: ['ready', 'comp:bloodbank'] }));
    assert.equal(onlyReady.ready, false);
    assert.deepEqual(onlyReady.ready ? [] : onlyReady.reasons, ["missing label 'automation:go'"]);

    const onlyGo = gate(planeV2WorkItem({ labels: ['automation:go'] }));
    assert.equal(onlyGo.ready, false);
    assert.deepEqual(onlyGo.ready ? [] : onlyGo.reasons, ["missing label 'ready'"]);
  });

  it('names the state that is not ready, with its group', () => {
    const d = gate(planeV1Issue({ stateName: 'In Progress', stateGroup: 'started' }));
    assert.equal(d.ready, false);
    assert.deepEqual(d.ready ? [] : d.reasons, ["state 'In Progress' (group 'started') not in [unstarted]"]);
  });

  it('gives every reason when several apply, state first', () => {
    const d = gate(planeV1Issue({ stateName: 'Done', stateGroup: 'completed', labels: [] }));
    assert.equal(d.ready, false);
    assert.deepEqual(d.ready ? [] : d.reasons, [
      "state 'Done' (group 'completed') not in [unstarted]",
      "missing label 'ready'",
      "missing label 'automation:go'",
    ]);
  });

  it('does not dispatch deletions', () => {
    const d = gate(planeV1Issue({ action: 'delete' }));
    assert.equal(d.ready, false);
    assert.match(d.ready ? '' : (d.reasons[0] ?? ''), /action 'deleted' is not dispatched/);
  });

  it('matches a state by name as well as by group, case-insensitively', () => {
    const byName: GateConfig = { ...cfg, readyStates: ['todo'] };
    assert.equal(gate(planeV1Issue({ stateName: 'Todo', stateGroup: 'unstarted' }), byName).ready, true);
    assert.equal(gate(planeV1Issue({ stateName: 'Backlog', stateGroup: 'backlog' }), byName).ready, false);
    assert.equal(gate(planeV2WorkItem({ stateName: 'TODO' }), byName).ready, true);
  });
});

describe('reading Plane payloads', { timeout: 10_000 }, () => {
  const labelForms: Array<[string, unknown]> = [
    [
      'label objects with names',
      [
        { id: 'a', name: 'Ready' },
        { id: 'b', name: 'Automation:Go' },
      ],
    ],
    [
      'label objects with slugs only',
      [
        { id: 'a', slug: 'ready' },
        { id: 'b', slug: 'automation-go' },
      ],
    ],
    ['label objects with keys', [{ key: 'READY' }, { key: 'automation:go' }]],
    ['label names as strings', ['ready', 'AUTOMATION:GO']],
  ];
  for (const [name, labels] of labelForms) {
    it(`accepts ${name}`, () => {
      const body = {
        event: 'issue',
        action: 'create',
        data: { id: 'i-1', name: 't', state: { name: 'Todo', group: 'unstarted' }, labels },
      };
      assert.equal(gate(body).ready, true);
    });
  }

  it('resolves label ids through label_details and ignores ids it cannot name', () => {
    const body = {
      event: 'workitem.updated',
      data: {
        id: 'i-2',
        state: { id: 's', name: 'Todo', group: 'unstarted' },
        labels: [
          '0b6c5a3e-1111-4c2b-9d5e-000000000001',
          '0b6c5a3e-1111-4c2b-9d5e-000000000002',
          '0b6c5a3e-1111-4c2b-9d5e-00000000000f',
        ],
        label_details: [
          { id: '0b6c5a3e-1111-4c2b-9d5e-000000000001', name: 'ready' },
          { id: '0b6c5a3e-1111-4c2b-9d5e-000000000002', name: 'automation:go' },
        ],
      },
    };
    const read = readPlaneWorkItem(body);
    assert.ok(read.ok);
    assert.deepEqual(
      read.item.labels.map((l) => l.display),
      ['ready', 'automation:go'],
    );
    assert.equal(evaluateGate(read.item, cfg).ready, true);

    const withLabelIds = {
      event: 'issue',
      action: 'updated',
      data: {
        id: 'i-3',
        state: { name: 'Todo', group: 'unstarted' },
        labels: [],
        label_ids: ['0b6c5a3e-1111-4c2b-9d5e-000000000001', '0b6c5a3e-1111-4c2b-9d5e-000000000002'],
        label_details: [
          { id: '0b6c5a3e-1111-4c2b-9d5e-000000000001', name: 'Ready' },
          { id: '0b6c5a3e-1111-4c2b-9d5e-000000000002', name: 'Automation:Go' },
        ],
      },
    };
    assert.equal(gate(withLabelIds).ready, true);
  });

  it('reads the state from an id plus state__group, from state_detail, or from a bare name', () => {
    const forms: unknown[] = [
      { state: '9d1e0f6a-0000-4000-8000-000000000000', state__group: 'unstarted' },
      { state: '9d1e0f6a-0000-4000-8000-000000000000', state_detail: { name: 'Todo', group: 'unstarted' } },
      { state: 'unstarted' },
    ];
    for (const f of forms) {
      const body = {
        event: 'issue',
        action: 'updated',
        data: { id: 'i', labels: ['ready', 'automation:go'], ...(f as object) },
      };
      assert.equal(gate(body).ready, true, JSON.stringify(f));
    }
  });

  it('normalises v1 and v2 event names and actions', () => {
    const v1 = readPlaneWorkItem(planeV1Issue({ action: 'create' }));
    const v2 = readPlaneWorkItem(planeV2WorkItem({ action: 'updated' }));
    assert.ok(v1.ok && v2.ok);
    assert.equal(v1.item.action, 'created');
    assert.equal(v1.item.entity, 'issue');
    assert.equal(v2.item.action, 'updated');
    assert.equal(v2.item.entity, 'workitem');
    assert.equal(v1.item.ticketRef, 'INFRA-42');
    assert.equal(v2.item.ticketRef, '#7');
  });

  it('says why a body is not a work item', () => {
    const r1 = readPlaneWorkItem({ event: 'project', action: 'update', data: { id: 'p' } });
    assert.equal(r1.ok, false);
    assert.match(r1.ok ? '' : r1.reason, /event 'project' is not about a work item/);
    const r2 = readPlaneWorkItem('nope');
    assert.equal(r2.ok, false);
    const r3 = readPlaneWorkItem({ event: 'issue', action: 'created', data: {} });
    assert.match(r3.ok ? '' : r3.reason, /no id/);
  });

  it('finds the component and the agents, in name or slug form', () => {
    const d = gate(
      planeV1Issue({ labels: ['ready', 'automation:go', 'Comp:Candybar', 'agent:Grolf', 'agent:lenoon'] }),
    );
    assert.equal(d.component, 'candybar');
    assert.deepEqual(d.agents, ['grolf', 'lenoon']);
    const slug = gate({
      event: 'issue',
      action: 'updated',
      data: {
        id: 'x',
        state: 'unstarted',
        labels: [{ slug: 'ready' }, { slug: 'automation-go' }, { slug: 'comp-holyfields' }],
      },
    });
    assert.equal(slug.component, 'holyfields');
  });

  it('compares names ignoring case and punctuation differences', () => {
    assert.ok(sameName('automation:go', 'Automation-Go'));
    assert.ok(sameName('automation:go', 'AUTOMATION:GO'));
    assert.ok(!sameName('automation:go', 'automation'));
    assert.ok(!sameName('ready', 'not-ready'));
  });
});
