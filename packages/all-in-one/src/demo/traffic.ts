import { createHmac, randomUUID } from 'node:crypto';
import { type Bus, connect, RetryableError, type Subscription, type Transport } from '@33god/bloodbank';
import { newEventId } from '@33god/core';

/**
 * Demo traffic that makes the dashboard show a living system: the example services of
 * `services/registry.yaml` acting out their roles over the real bus.
 *
 *   Plane (signed webhook to the gateway) ─▶ webhook.plane.issue.updated
 *     ─▶ infra-dispatcher ─▶ (OpenClaw demo sink) ─▶ infra.dispatch.completed   or  .skipped
 *     ─▶ agent-runner ─▶ worktree.created ─▶ agent.task.completed
 *     ─▶ theboard ─▶ meeting.converged
 *   worktree-manager consumes worktree.* and agent.task.*, and fails now and then
 *   ("worktree lock held"): retried with backoff, then dead-lettered.
 *   smoke-tester receives the seed's test.event.created, published through POST /publish.
 *
 * Every hop is a real publish and a real consume, so correlation and causation are
 * filled in by the SDK exactly as they are for any service.
 */
export interface DemoOptions {
  transport: Transport;
  exchange?: string;
  dlx?: string;
  gatewayUrl: string;
  planeSecret: string;
  /** Bearer token of the smoke test's `POST /publish`, when the gateway wants one. */
  publishToken?: string;
  /** Seconds between Plane tickets. Default 2. */
  ticketIntervalSeconds?: number;
  /** Share of worktree-manager deliveries that fail (each attempt). Half of it fails every attempt. Default 0.2. */
  failureRate?: number;
  log?: (line: string) => void;
}

export interface DemoTraffic {
  readonly stats: { tickets: number; smokeTests: number; errors: number };
  stop(): Promise<void>;
}

const AGENTS = ['cack', 'tonny', 'rererere', 'lenoon'];
const COMPONENTS = ['bloodbank', 'candystore', 'candybar', 'holyfields'];
const TITLES = [
  'Rotate the broker credentials',
  'Add a retention job for old partitions',
  'Show dead letters per queue on the dashboard',
  'Generate Pydantic models for the new schemas',
  'Alert when ingest lag passes a minute',
  'Document the CloudEvents mapping',
];

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startDemoTraffic(options: DemoOptions): Promise<DemoTraffic> {
  const exchange = options.exchange ?? 'bloodbank.events.v1';
  const failureRate = options.failureRate ?? 0.2;
  const log = options.log ?? (() => {});
  const stats = { tickets: 0, smokeTests: 0, errors: 0 };
  const buses: Bus[] = [];
  const subs: Subscription[] = [];
  const bus = async (app: string) => {
    const b = await connect({
      transport: options.transport,
      exchange,
      app,
      topology: { exchange, ...(options.dlx ? { dlx: options.dlx } : {}) },
    });
    buses.push(b);
    return b;
  };

  const agentRunner = await bus('agent-runner');
  subs.push(
    await agentRunner.subscribe(
      'agent_runner.dispatches',
      ['infra.dispatch.completed'],
      async function runAgentTask(event, ctx) {
        const p = event.payload as {
          issue_id?: string;
          issue_name?: string;
          agent?: string;
          component?: string;
        };
        const agent = p.agent ?? pick(AGENTS);
        const branch = `task/${(p.issue_id ?? randomUUID()).slice(0, 8)}`;
        const worktree = await ctx.publish('worktree.created', {
          repo: `33god/${p.component ?? pick(COMPONENTS)}`,
          path: `/home/dev/wt/${branch.replace('/', '-')}`,
          branch,
          base_ref: 'main',
          created_by: agent,
        });
        await sleep(150 + Math.random() * 600);
        const succeeded = Math.random() > 0.15;
        await agentRunner.publish(
          'agent.task.completed',
          {
            task_id: p.issue_id ?? randomUUID(),
            agent_name: agent,
            status: succeeded ? 'succeeded' : 'failed',
            summary: succeeded ? `Done: ${p.issue_name ?? 'task'}` : 'Tests failed after two attempts.',
            duration_ms: Math.round(60_000 + Math.random() * 600_000),
          },
          { causedBy: worktree },
        );
      },
      { prefetch: 8 },
    ),
  );

  const theboard = await bus('theboard');
  subs.push(
    await theboard.subscribe(
      'theboard.tasks',
      ['agent.task.completed'],
      async function convene(event, ctx) {
        if ((event.payload as { status?: string }).status !== 'succeeded') return;
        await sleep(100 + Math.random() * 400);
        const novelty = Math.round(Math.random() * 15) / 100;
        await ctx.publish('meeting.converged', {
          meeting_id: newEventId(),
          round_num: 2 + Math.floor(Math.random() * 5),
          avg_novelty: novelty,
          novelty_threshold: 0.2,
          total_comments: 10 + Math.floor(Math.random() * 40),
        });
      },
      { prefetch: 8 },
    ),
  );

  const worktreeManager = await bus('worktree-manager');
  subs.push(
    await worktreeManager.subscribe(
      'worktree_manager.events',
      ['worktree.*', 'agent.task.*'],
      async function trackWorktree(event) {
        // Some events fail on every attempt (they end in the dead letters after three
        // tries); others fail once now and then and succeed on retry.
        if (stableFraction(event.event_id) < failureRate / 2) {
          // worktree.* events carry the path, agent.task.* events the task
          const { path, task_id } = event.payload as { path?: unknown; task_id?: unknown };
          throw new RetryableError(
            typeof path === 'string'
              ? `worktree path ${path} is not a git worktree`
              : `no git worktree found for task ${String(task_id ?? event.event_id)}`,
          );
        }
        if (Math.random() < failureRate) {
          throw new RetryableError('worktree lock held by another process (.git/worktrees/index.lock)');
        }
      },
      { prefetch: 8, retry: { maxAttempts: 3, initialDelayMs: 500, maxDelayMs: 2000 } },
    ),
  );

  const smokeTester = await bus('smoke-tester');
  subs.push(await smokeTester.subscribe('smoke_tester.events', ['test.#'], async function smokeTest() {}));

  let running = true;
  const loops: Promise<void>[] = [];
  const interval = (options.ticketIntervalSeconds ?? 2) * 1000;

  loops.push(
    (async () => {
      while (running) {
        try {
          await postPlaneWebhook(options.gatewayUrl, options.planeSecret);
          stats.tickets++;
        } catch (err) {
          stats.errors++;
          log(`demo: plane webhook failed: ${(err as Error).message}`);
        }
        await sleep(interval * (0.5 + Math.random()));
      }
    })(),
  );
  loops.push(
    (async () => {
      while (running) {
        await sleep(5000);
        if (!running) break;
        try {
          // The seed's smoke test, as its curl example sends it.
          const res = await fetch(`${options.gatewayUrl}/publish`, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              ...(options.publishToken ? { authorization: `Bearer ${options.publishToken}` } : {}),
            },
            body: JSON.stringify({ event_type: 'test.event.created', payload: { message: 'test' } }),
          });
          if (res.status !== 202) throw new Error(`gateway answered ${res.status}`);
          stats.smokeTests++;
        } catch (err) {
          stats.errors++;
          log(`demo: smoke test publish failed: ${(err as Error).message}`);
        }
      }
    })(),
  );

  return {
    stats,
    async stop() {
      running = false;
      await Promise.allSettled(loops);
      for (const s of subs) await s.cancel();
      for (const b of buses) await b.drain();
    },
  };
}

let sequence = 100;

/** A number in [0, 1) fixed for a given id, so a poison event fails on every attempt. */
function stableFraction(id: string): number {
  return createHmac('sha256', 'demo').update(id).digest().readUInt32BE(0) / 2 ** 32;
}

async function postPlaneWebhook(gatewayUrl: string, secret: string): Promise<void> {
  const issueId = randomUUID();
  const ready = Math.random() > 0.25;
  const labels = [
    { id: randomUUID(), name: 'ready' },
    ...(ready ? [{ id: randomUUID(), name: 'automation:go' }] : []),
    { id: randomUUID(), name: `comp:${pick(COMPONENTS)}` },
    { id: randomUUID(), name: `agent:${pick(AGENTS)}` },
  ];
  const body = JSON.stringify({
    event: 'issue',
    action: 'updated',
    webhook_id: 'demo-webhook',
    workspace_id: 'demo-workspace',
    data: {
      id: issueId,
      name: pick(TITLES),
      sequence_id: sequence++,
      project: 'p-infra',
      state: { name: 'Todo', group: 'unstarted' },
      labels,
    },
  });
  const res = await fetch(`${gatewayUrl}/webhooks/plane`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-plane-delivery': randomUUID(),
      'x-plane-event': 'issue',
      'x-plane-signature': createHmac('sha256', secret).update(body).digest('hex'),
    },
    body,
  });
  if (res.status >= 300) throw new Error(`gateway answered ${res.status}: ${await res.text()}`);
}
