import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultSchemasDir, isAppError } from '@33god/core';
import { loadSchemaTree, type SchemaRegistry } from '@33god/holyfields';
import {
  createDispatchPipeline,
  createOpenClawClient,
  type DispatcherConfig,
  DispatchStateStore,
  type RetryPolicy,
  resolveDispatcherConfig,
} from '@33god/infra-dispatcher';
import { type FakeOpenClaw, startOpenClaw } from './helpers/openclaw-server.js';
import { planeV1Issue, planeV2WorkItem } from './helpers/plane-payloads.js';

/**
 * The dispatcher's domain pipeline without a bus: Plane body in, OpenClaw request
 * and published events out. The bus-level tests (dispatcher.rabbitmq.test.ts) run
 * the same flows through RabbitMQ.
 */

const dir = mkdtempSync(join(tmpdir(), 'infra-pipeline-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// Every published payload is checked against its schema in the tree, as the bus does before publishing.
let schemas: SchemaRegistry;
before(async () => {
  schemas = await loadSchemaTree(defaultSchemasDir());
});

interface Published {
  type: string;
  payload: Record<string, unknown>;
}

async function pipelineFor(
  oc: FakeOpenClaw,
  statePath: string,
  overrides: Partial<DispatcherConfig> = {},
  retry: Partial<RetryPolicy> = {},
) {
  const config = resolveDispatcherConfig({
    hookToken: 'tok-123',
    hookUrl: oc.url,
    statePath,
    runChecks: false,
    checksRoot: dir,
    ...overrides,
  });
  const state = await DispatchStateStore.open(statePath);
  const published: Published[] = [];
  const client = createOpenClawClient({
    url: oc.url,
    token: config.hookToken,
    retry: { initialDelayMs: 10, maxDelayMs: 20, maxTotalMs: 2_000, ...retry },
  });
  const pipeline = createDispatchPipeline({
    config,
    state,
    client,
    publish: async (type, payload) => {
      const v = schemas.validatePayload(type, payload);
      assert.ok(v.known, `no schema for ${type}`);
      assert.deepEqual(v.violations, [], `${type} breaks its schema`);
      published.push({ type, payload });
    },
  });
  const event = (payload: Record<string, unknown>) => ({
    event_id: randomUUID(),
    event_type: 'webhook.plane.issue.updated',
    payload,
  });
  return { pipeline, state, published, event };
}

describe('dispatch pipeline', { timeout: 30_000 }, () => {
  let oc: FakeOpenClaw;
  before(async () => {
    oc = await startOpenClaw();
  });
  after(() => oc.close());

  it('dispatches a ready ticket once, with the token and the ticket in the body', async () => {
    oc.requests.length = 0;
    const statePath = join(dir, 'once.json');
    const { pipeline, state, published, event } = await pipelineFor(oc, statePath);
    const body = planeV1Issue({
      title: 'Add quorum queues',
      labels: ['ready', 'automation:go', 'comp:bloodbank', 'agent:grolf'],
    });
    const issueId = (body.data as { id: string }).id;
    const out = await pipeline.handle(event(body));
    assert.equal(out.kind, 'dispatched');
    assert.equal(oc.requests.length, 1);
    const req = oc.requests[0]!;
    assert.equal(req.headers.authorization, 'Bearer tok-123');
    assert.equal(req.json?.sessionKey, `hook:infra:${issueId}`);
    assert.equal(req.json?.name, 'TeamInfraDispatch');
    assert.equal(req.json?.wakeMode, 'now');
    assert.equal(req.json?.deliver, false);
    assert.equal(req.json?.agentId, 'grolf');
    const message = String(req.json?.message);
    for (const part of [
      'Ticket: INFRA-42',
      'Title: Add quorum queues',
      'State: Todo (unstarted)',
      'Component: bloodbank',
      'automation:go',
    ]) {
      assert.ok(message.includes(part), `message lacks '${part}':\n${message}`);
    }
    assert.deepEqual(
      published.map((p) => p.type),
      ['infra.dispatch.completed'],
    );
    assert.equal(state.records(issueId).length, 1);
    assert.equal(state.records(issueId)[0]?.announced, true);

    // The same webhook again (a redelivery, or Plane's `updated` after a title edit): no second dispatch.
    const again = await pipeline.handle(event(body));
    assert.equal(again.kind, 'skipped');
    assert.equal(oc.requests.length, 1);
    assert.equal(published[1]?.type, 'infra.dispatch.skipped');
    assert.equal(published[1]?.payload.reason, 'already_dispatched');
    assert.match(String(published[1]?.payload.detail), /already dispatched/);

    // A new dispatcher on the same state file (a restart) does not dispatch it either.
    const restarted = await pipelineFor(oc, statePath);
    const third = await restarted.pipeline.handle(restarted.event(body));
    assert.equal(third.kind, 'skipped');
    assert.equal(oc.requests.length, 1);
  });

  it('dispatches a v2 work item', async () => {
    oc.requests.length = 0;
    const { pipeline, published, event } = await pipelineFor(oc, join(dir, 'v2.json'));
    const out = await pipeline.handle(event(planeV2WorkItem()));
    assert.equal(out.kind, 'dispatched');
    assert.equal(oc.requests.length, 1);
    assert.match(String(oc.requests[0]?.json?.message), /Ticket: #7/);
    assert.equal(published[0]?.type, 'infra.dispatch.completed');
  });

  it('skips a ticket that is not ready, with the reason, and sends nothing', async () => {
    oc.requests.length = 0;
    const { pipeline, published, event } = await pipelineFor(oc, join(dir, 'not-ready.json'));
    await pipeline.handle(event(planeV1Issue({ stateName: 'In Progress', stateGroup: 'started' })));
    await pipeline.handle(event(planeV1Issue({ labels: ['ready', 'comp:bloodbank'] })));
    await pipeline.handle(event({ event: 'project', action: 'update', data: { id: 'p' } }));
    assert.equal(oc.requests.length, 0);
    assert.deepEqual(
      published.map((p) => [p.type, p.payload.reason, p.payload.detail, p.payload.missing_labels]),
      [
        [
          'infra.dispatch.skipped',
          'state_not_ready',
          "state 'In Progress' (group 'started') not in [unstarted]",
          [],
        ],
        ['infra.dispatch.skipped', 'labels_missing', "missing label 'automation:go'", ['automation:go']],
      ],
      'a project event is not a ticket: it is ignored without an event',
    );
    assert.equal(pipeline.stats.ignored, 1);
  });

  it('records nothing when OpenClaw refuses, publishes the failure and throws a final error', async () => {
    oc.requests.length = 0;
    oc.answers = [400];
    const { pipeline, state, published, event } = await pipelineFor(oc, join(dir, 'refused.json'));
    const body = planeV1Issue();
    const issueId = (body.data as { id: string }).id;
    await assert.rejects(
      pipeline.handle(event(body)),
      (err) => isAppError(err) && err.code === 'DISPATCH_REJECTED',
    );
    assert.equal(state.records(issueId).length, 0);
    assert.equal(published[0]?.type, 'infra.dispatch.failed');
    assert.equal(published[0]?.payload.retryable, false);
    assert.equal(published[0]?.payload.http_status, 400);
    assert.equal(published[0]?.payload.error_class, 'DISPATCH_REJECTED');
    // Because nothing was recorded, the ticket goes out when it comes again and OpenClaw accepts.
    const out = await pipeline.handle(event(body));
    assert.equal(out.kind, 'dispatched');
    assert.equal(oc.accepted().length, 1);
  });

  it('retries 503 and dispatches once', async () => {
    oc.requests.length = 0;
    oc.answers = [503];
    const { pipeline, event } = await pipelineFor(oc, join(dir, 'retry.json'));
    const out = await pipeline.handle(event(planeV1Issue()));
    assert.equal(out.kind, 'dispatched');
    assert.deepEqual(
      oc.requests.map((r) => r.status),
      [503, 200],
    );
  });

  it('blocks the dispatch on a failed check in block mode, and reports it in report mode', async () => {
    oc.requests.length = 0;
    const checks = { bloodbank: { command: 'echo "3 tests failed"; exit 1', cwd: '.' } };
    const blocking = await pipelineFor(oc, join(dir, 'block.json'), {
      runChecks: true,
      checkMode: 'block',
      checks,
    });
    const out = await blocking.pipeline.handle(blocking.event(planeV1Issue()));
    assert.equal(out.kind, 'skipped');
    assert.equal(oc.requests.length, 0);
    const skipped = blocking.published[0]!;
    assert.equal(skipped.payload.reason, 'check_failed');
    assert.match(String(skipped.payload.detail), /failed with exit code 1/);
    assert.equal((skipped.payload.checks as Array<{ exit_code: number }>)[0]?.exit_code, 1);

    const reporting = await pipelineFor(oc, join(dir, 'report.json'), {
      runChecks: true,
      checkMode: 'report',
      checks,
    });
    const out2 = await reporting.pipeline.handle(reporting.event(planeV1Issue()));
    assert.equal(out2.kind, 'dispatched');
    assert.match(String(oc.requests[0]?.json?.message), /failed with exit code 1[\s\S]*3 tests failed/);
    assert.equal(
      ((reporting.published[0]?.payload.checks ?? []) as Array<{ status: string }>)[0]?.status,
      'failed',
    );
  });

  it('a timed-out check is reported with the dispatch', async () => {
    oc.requests.length = 0;
    const { pipeline, published, event } = await pipelineFor(oc, join(dir, 'timeout.json'), {
      runChecks: true,
      checkTimeoutSeconds: 1,
      checks: { bloodbank: { command: 'sleep 30', cwd: '.' } },
    });
    const started = Date.now();
    const out = await pipeline.handle(event(planeV1Issue()));
    assert.equal(out.kind, 'dispatched');
    assert.ok(Date.now() - started < 10_000, 'the check was stopped at its timeout');
    const [check] = (published[0]?.payload.checks ?? []) as Array<{ status: string; timed_out: boolean }>;
    assert.equal(check?.status, 'timeout');
    assert.equal(check?.timed_out, true);
    assert.match(String(oc.requests[0]?.json?.message), /timed out after 1000 ms/);
  });

  it('two deliveries of one ticket at the same time dispatch it once', async () => {
    oc.requests.length = 0;
    const { pipeline, event } = await pipelineFor(oc, join(dir, 'concurrent.json'));
    const body = planeV1Issue();
    const outcomes = await Promise.all([
      pipeline.handle(event(body)),
      pipeline.handle(event(body)),
      pipeline.handle(event(body)),
    ]);
    assert.deepEqual(outcomes.map((o) => o.kind).sort(), ['dispatched', 'skipped', 'skipped']);
    assert.equal(oc.requests.length, 1);
  });

  it('after a stop between the dispatch and its completed event, a redelivery publishes the event, not the ticket', async () => {
    oc.requests.length = 0;
    const statePath = join(dir, 'unannounced.json');
    const body = planeV1Issue();
    const issueId = (body.data as { id: string }).id;
    const first = await pipelineFor(oc, statePath);
    const out = await first.pipeline.handle(first.event(body));
    assert.equal(out.kind, 'dispatched');
    // What the file holds when the process died right after recording the dispatch.
    const fingerprint = out.kind === 'dispatched' ? out.fingerprint : '';
    const rec = first.state.find(issueId, fingerprint)!;
    await first.state.record(issueId, { ...rec, announced: false });

    const second = await pipelineFor(oc, statePath);
    const again = await second.pipeline.handle(second.event(body));
    assert.equal(again.kind, 'announced');
    assert.equal(oc.requests.length, 1, 'the ticket was not sent again');
    assert.deepEqual(
      second.published.map((p) => p.type),
      ['infra.dispatch.completed'],
    );
    assert.equal(second.state.find(issueId, fingerprint)?.announced, true);
  });

  it('notes the send in the state file before the request goes out, and the acceptance after', async () => {
    oc.requests.length = 0;
    oc.delayMs = 300;
    const statePath = join(dir, 'sending.json');
    const body = planeV1Issue();
    const issueId = (body.data as { id: string }).id;
    const { pipeline, published, event } = await pipelineFor(oc, statePath);
    const handled = pipeline.handle(event(body));
    await oc.waitForRequests(1);
    // What a process killed now would leave behind: the file already says the ticket is being sent.
    const onDisk = (await DispatchStateStore.open(statePath)).records(issueId);
    assert.equal(onDisk.length, 1);
    assert.equal(onDisk[0]?.sending, true);
    oc.delayMs = 0;
    const out = await handled;
    assert.equal(out.kind, 'dispatched');
    const after = (await DispatchStateStore.open(statePath)).records(issueId);
    assert.equal(after.length, 1);
    assert.equal(after[0]?.sending, undefined);
    assert.equal(after[0]?.announced, true);
    assert.equal(published[0]?.payload.possible_duplicate, false);
  });

  it('after a stop while the ticket was being sent, a redelivery sends it again and says it may be a duplicate', async () => {
    oc.requests.length = 0;
    const statePath = join(dir, 'stopped-sending.json');
    const body = planeV1Issue();
    const issueId = (body.data as { id: string }).id;
    const first = await pipelineFor(oc, statePath);
    const out = await first.pipeline.handle(first.event(body));
    assert.equal(out.kind, 'dispatched');
    // What the file holds when the process died after noting the send, before OpenClaw's answer was recorded.
    const rec = first.state.find(issueId, out.kind === 'dispatched' ? out.fingerprint : '')!;
    await first.state.markSending(issueId, rec);

    const second = await pipelineFor(oc, statePath);
    const again = await second.pipeline.handle(second.event(body));
    assert.equal(again.kind, 'dispatched', 'a ticket whose send is unknown is not lost');
    assert.equal(oc.requests.length, 2);
    assert.equal(second.published[0]?.type, 'infra.dispatch.completed');
    assert.equal(second.published[0]?.payload.possible_duplicate, true);
    const saved = second.state.find(issueId, rec.fingerprint);
    assert.equal(saved?.sending, undefined);
    assert.equal(saved?.possible_duplicate, true);
    // And only that once: the next delivery is a duplicate delivery, skipped.
    const third = await second.pipeline.handle(second.event(body));
    assert.equal(third.kind, 'skipped');
    assert.equal(oc.requests.length, 2);
  });

  it('keeps the note when no attempt was answered, so the successful retry says it may be a duplicate', async () => {
    oc.requests.length = 0;
    oc.delayMs = 1_000;
    const statePath = join(dir, 'unanswered.json');
    const body = planeV1Issue();
    const issueId = (body.data as { id: string }).id;
    const { pipeline, state, published, event } = await pipelineFor(
      oc,
      statePath,
      {},
      { maxAttempts: 2, requestTimeoutMs: 150 },
    );
    await assert.rejects(
      pipeline.handle(event(body)),
      (err) => isAppError(err) && err.code === 'DISPATCH_FAILED' && err.extra.uncertain === true,
    );
    assert.equal(state.records(issueId)[0]?.sending, true);
    oc.delayMs = 0;
    const out = await pipeline.handle(event(body));
    assert.equal(out.kind, 'dispatched');
    const completed = published.find((p) => p.type === 'infra.dispatch.completed');
    assert.equal(completed?.payload.possible_duplicate, true);
    assert.equal(state.records(issueId)[0]?.sending, undefined);
  });

  it('handles tickets whose component, agent or issue id is an Object member name like any other', async () => {
    oc.requests.length = 0;
    const { pipeline, state, published, event } = await pipelineFor(oc, join(dir, 'proto-names.json'), {
      runChecks: true,
      checks: { bloodbank: { command: 'true', cwd: '.' } },
    });
    const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];
    for (const name of names) {
      const body = planeV1Issue({
        id: name,
        labels: ['ready', 'automation:go', `comp:${name}`, `agent:${name}`],
      });
      const out = await pipeline.handle(event(body));
      assert.equal(out.kind, 'dispatched', name);
      const req = oc.requests.at(-1)!;
      assert.equal(req.json?.sessionKey, `hook:infra:${name}`);
      assert.equal(req.json?.agentId, name.toLowerCase());
      assert.match(String(req.json?.message), new RegExp(`Component: ${name.toLowerCase()}\n`));
      const completed = published.at(-1)!;
      assert.equal(completed.type, 'infra.dispatch.completed');
      assert.equal(completed.payload.issue_id, name);
      assert.deepEqual(completed.payload.checks, [], 'no check is configured for it');
      // Dispatched once: the state finds the record under that id.
      const again = await pipeline.handle(event(body));
      assert.equal(again.kind, 'skipped', name);
      assert.equal(published.at(-1)?.payload.reason, 'already_dispatched');
    }
    assert.equal(oc.requests.length, names.length);
    assert.equal(state.issueCount, names.length);
    const notReady = await pipeline.handle(
      event(planeV1Issue({ id: '__proto__', stateName: 'Done', stateGroup: 'completed' })),
    );
    assert.equal(notReady.kind, 'skipped');
    assert.equal(published.at(-1)?.payload.reason, 'state_not_ready');
  });

  it("puts a check's output in the prompt and the events without the dispatcher's secrets", async (t) => {
    const env = {
      OPENCLAW_HOOK_TOKEN: 'pipeline-hook-token-c0ffee',
      PLANE_WEBHOOK_SECRET: 'pipeline-plane-whsec-f00d',
      INFRA_CHECK_VISIBLE: 'visible-to-the-check',
    };
    for (const [name, value] of Object.entries(env)) {
      const before = process.env[name];
      process.env[name] = value;
      t.after(() => {
        if (before === undefined) delete process.env[name];
        else process.env[name] = before;
      });
    }
    oc.requests.length = 0;
    const { pipeline, published, event } = await pipelineFor(oc, join(dir, 'check-env.json'), {
      hookToken: env.OPENCLAW_HOOK_TOKEN,
      runChecks: true,
      checkMode: 'report',
      checks: { bloodbank: { command: 'env; exit 1', cwd: '.', passEnv: ['INFRA_CHECK_VISIBLE'] } },
    });
    const out = await pipeline.handle(event(planeV1Issue()));
    assert.equal(out.kind, 'dispatched');
    const message = String(oc.requests[0]?.json?.message);
    const [check] = (published[0]?.payload.checks ?? []) as Array<{ output_tail: string }>;
    for (const text of [message, check?.output_tail ?? '']) {
      assert.match(text, /INFRA_CHECK_VISIBLE=visible-to-the-check/);
      assert.match(text, /PATH=/);
      for (const leak of [
        'OPENCLAW_HOOK_TOKEN',
        'PLANE_WEBHOOK_SECRET',
        env.OPENCLAW_HOOK_TOKEN,
        env.PLANE_WEBHOOK_SECRET,
      ]) {
        assert.ok(!text.includes(leak), `'${leak}' reached the agent:\n${text}`);
      }
    }
  });
});
