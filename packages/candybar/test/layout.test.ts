import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { layoutInput, layoutTopology, UNLAYERED_GROUP } from '../web/src/logic/layout.js';
import { TopologyIndex } from '../web/src/logic/topology.js';
import { fixtureRegistry } from './helpers.js';

describe('topology layout', { timeout: 10_000 }, () => {
  const reg = fixtureRegistry();
  const index = new TopologyIndex(reg);
  const layout = layoutTopology(reg, index.edges);

  test('every service is placed exactly once; layer entries that are not services become external nodes', () => {
    const services = layout.nodes.filter((n) => n.kind === 'service').map((n) => n.id);
    assert.equal(services.length, 20);
    assert.deepEqual(new Set(services), new Set(reg.services.map((s) => s.id)));
    assert.deepEqual(
      layout.nodes
        .filter((n) => n.kind === 'external')
        .map((n) => n.id)
        .sort(),
      ['external:fireflies', 'external:github'],
    );
  });

  test('bands follow the registry layers, then the services in no layer', () => {
    const groups = layout.groups.map((g) => g.id);
    assert.deepEqual(groups.slice(0, -1), Object.keys(reg.layers));
    assert.equal(groups.at(-1), UNLAYERED_GROUP);
    const unlayered = layoutInput(reg)
      .groups.at(-1)!
      .members.map((m) => m.id)
      .sort();
    assert.deepEqual(unlayered, [
      'agent-feedback-router',
      'agent-voice-soprano',
      'fireflies-transcript-processor',
      'node-red-flow-orchestrator',
      'tonny-agent',
    ]);
    for (let i = 1; i < layout.groups.length; i++) {
      const prev = layout.groups[i - 1]!;
      assert.ok(layout.groups[i]!.y >= prev.y + prev.h, 'bands do not overlap');
    }
  });

  test('nodes do not overlap and stay inside their band and the canvas', () => {
    const nodes = layout.nodes;
    for (let i = 0; i < nodes.length; i++) {
      const a = nodes[i]!;
      const band = layout.groups.find((g) => g.id === a.group)!;
      assert.ok(a.x >= band.x && a.x + a.w <= band.x + band.w, `${a.id} inside its band horizontally`);
      assert.ok(a.y >= band.y && a.y + a.h <= band.y + band.h, `${a.id} inside its band vertically`);
      assert.ok(a.x + a.w <= layout.width && a.y + a.h <= layout.height);
      for (let j = i + 1; j < nodes.length; j++) {
        const b = nodes[j]!;
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        assert.ok(!overlap, `${a.id} overlaps ${b.id}`);
      }
    }
  });

  test('every edge is routed between its two nodes, on the canvas, deterministically', () => {
    assert.equal(layout.edges.length, index.edges.length);
    for (const e of layout.edges) {
      const ys = [...e.d.matchAll(/[\d.]+,([\d.]+)/g)].map((m) => Number(m[1]));
      assert.ok(Math.max(...ys) <= layout.height, `${e.id} stays above the bottom edge`);
    }
    for (const e of layout.edges) assert.match(e.d, /^M[\d.]+,[\d.]+ C/);
    assert.deepEqual(layoutTopology(reg, index.edges), layout);
  });

  test('crossing reduction untangles crossed links and never does worse than the registry order', () => {
    const horizontal = (l: typeof layout, edges = index.edges) => {
      const cx = new Map(l.nodes.map((n) => [n.id, n.x + n.w / 2]));
      return edges.reduce((sum, e) => sum + Math.abs(cx.get(e.from)! - cx.get(e.to)!), 0);
    };
    assert.ok(horizontal(layout) <= horizontal(layoutTopology(reg, index.edges, { sweeps: 0 })));

    const svc = (id: string, produces: string[], routingKeys: string[]) => ({
      ...reg.services[0]!,
      id,
      name: id,
      produces,
      routingKeys,
      consumes: [],
    });
    const crossed = {
      ...reg,
      eventSubscriptions: {},
      services: [
        svc('a1', ['t.one'], []),
        svc('a2', ['t.two'], []),
        svc('b2', [], ['t.two']),
        svc('b1', [], ['t.one']),
      ],
      layers: { top: ['a1', 'a2'], bottom: ['b2', 'b1'] },
    };
    const edges = new TopologyIndex(crossed).edges;
    const before = layoutTopology(crossed, edges, { sweeps: 0 });
    const after = layoutTopology(crossed, edges);
    assert.ok(horizontal(after, edges) < horizontal(before, edges));
    const x = new Map(after.nodes.map((n) => [n.id, n.x]));
    assert.equal(x.get('a1'), x.get('b1'));
    assert.equal(x.get('a2'), x.get('b2'));
  });

  test('wide layers wrap into rows', () => {
    const wide = {
      ...reg,
      layers: { all: reg.services.map((s) => s.id) },
    };
    const l = layoutTopology(wide, [], { maxPerRow: 5 });
    const rows = new Set(l.nodes.map((n) => n.y));
    assert.equal(rows.size, 4);
  });
});
