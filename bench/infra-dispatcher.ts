// Infra Dispatcher figures, each beside a reference measured in the same run:
// - ready-gate decisions (read the Plane body, gate, fingerprint) vs JSON.parse of the same body;
// - durable state records (temp file + fsync + rename) vs a plain overwrite of the same file;
// - dispatches through the pipeline to a local OpenClaw stand-in vs bare POSTs to it.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createDispatchPipeline,
  createOpenClawClient,
  DEFAULT_DISPATCHER_CONFIG,
  DispatchStateStore,
  dispatchFingerprint,
  evaluateGate,
  readPlaneWorkItem,
  resolveDispatcherConfig,
} from '@33god/infra-dispatcher';
import { type BenchSuite, result } from './types.js';

function planeBody(id = randomUUID()): Record<string, unknown> {
  return {
    event: 'issue',
    action: 'updated',
    webhook_id: randomUUID(),
    workspace_id: randomUUID(),
    data: {
      id,
      name: 'Rotate the broker credentials',
      sequence_id: 42,
      project_detail: { identifier: 'INFRA' },
      state: { id: randomUUID(), name: 'Todo', group: 'unstarted' },
      labels: ['ready', 'automation:go', 'comp:bloodbank', 'agent:grolf'].map((name) => ({
        id: randomUUID(),
        name,
      })),
      description_html: `<p>${'x'.repeat(2000)}</p>`,
    },
  };
}

function perSecond(n: number, ms: number): number {
  return Math.round((n / ms) * 1000);
}

export const suite: BenchSuite = async (ctx) => {
  const out = [];

  // 1. Gate decisions.
  const raw = JSON.stringify(planeBody());
  const n1 = Math.max(1000, Math.round(100_000 * ctx.scale));
  let t = performance.now();
  for (let i = 0; i < n1; i++) JSON.parse(raw);
  const parseRate = perSecond(n1, performance.now() - t);
  t = performance.now();
  for (let i = 0; i < n1; i++) {
    const read = readPlaneWorkItem(JSON.parse(raw));
    if (!read.ok) throw new Error(read.reason);
    const d = evaluateGate(read.item, DEFAULT_DISPATCHER_CONFIG);
    if (!d.ready) throw new Error('not ready');
    dispatchFingerprint({
      issueId: read.item.id,
      state: d.matchedState,
      readyLabels: DEFAULT_DISPATCHER_CONFIG.readyLabels,
      component: d.component,
      agents: d.agents,
    });
  }
  const gateRate = perSecond(n1, performance.now() - t);
  out.push(
    result(
      'ready-gate decisions (parse + gate + fingerprint)',
      gateRate,
      'ops/s',
      'JSON.parse of the body',
      parseRate,
    ),
  );
  ctx.log(`gate: ${gateRate}/s vs parse ${parseRate}/s`);

  const dir = mkdtempSync(join(tmpdir(), 'bench-infra-'));
  try {
    // 2. Durable records.
    const n2 = Math.max(20, Math.round(500 * ctx.scale));
    const store = await DispatchStateStore.open(join(dir, 'state.json'));
    t = performance.now();
    for (let i = 0; i < n2; i++) {
      await store.record(`issue-${i % 50}`, {
        fingerprint: `fp-${i}`,
        dispatched_at: new Date().toISOString(),
        ticket: `INFRA-${i}`,
        session_key: `hook:infra:issue-${i % 50}`,
        announced: true,
      });
    }
    const recordRate = perSecond(n2, performance.now() - t);
    const content = JSON.stringify({ version: 1, issues: store.records('issue-1') });
    t = performance.now();
    for (let i = 0; i < n2; i++) await writeFile(join(dir, 'plain.json'), content);
    const plainRate = perSecond(n2, performance.now() - t);
    out.push(
      result(
        'state records (atomic: temp + fsync + rename)',
        recordRate,
        'ops/s',
        'plain overwrite, no fsync',
        plainRate,
      ),
    );
    ctx.log(`state: ${recordRate}/s vs plain ${plainRate}/s`);

    // 3. Dispatches against a local stand-in for OpenClaw.
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/agent`;
    try {
      const n3 = Math.max(50, Math.round(1000 * ctx.scale));
      t = performance.now();
      for (let i = 0; i < n3; i++) {
        const r = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: raw,
        });
        await r.text();
      }
      const postRate = perSecond(n3, performance.now() - t);
      const config = resolveDispatcherConfig({
        hookToken: 't',
        hookUrl: url,
        runChecks: false,
        statePath: join(dir, 'd.json'),
      });
      const pipeline = createDispatchPipeline({
        config,
        state: await DispatchStateStore.open(config.statePath),
        client: createOpenClawClient({ url, token: 't' }),
        publish: async () => {},
      });
      t = performance.now();
      for (let i = 0; i < n3; i++) {
        const outcome = await pipeline.handle({
          event_id: randomUUID(),
          event_type: 'webhook.plane.issue.updated',
          payload: planeBody(),
        });
        if (outcome.kind !== 'dispatched') throw new Error(`not dispatched: ${outcome.kind}`);
      }
      const dispatchRate = perSecond(n3, performance.now() - t);
      out.push(
        result(
          'dispatches (gate + POST + durable record)',
          dispatchRate,
          'ops/s',
          'bare POST to the same server',
          postRate,
        ),
      );
      ctx.log(`dispatch: ${dispatchRate}/s vs bare POST ${postRate}/s`);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
};
