import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import {
  type Bus,
  connect,
  createEmbeddedTransport,
  DEAD_LETTER_HEADERS,
  dlqName,
  EmbeddedBroker,
  retryQueueName,
  type TopologyOptions,
  type Transport,
} from '@33god/bloodbank';
import type { EventEnvelope } from '@33god/core';
import {
  type RunningDispatcher,
  type StartDispatcherOptions,
  startDispatcher,
} from '@33god/infra-dispatcher';
import amqp from 'amqplib';
import { type FakeOpenClaw, startOpenClaw } from './openclaw-server.js';
import { planeV1Issue, planeV2WorkItem } from './plane-payloads.js';

/**
 * The dispatcher end to end through a real bus: a test publisher puts Plane webhook
 * events on the exchange (as the gateway does after verifying the signature), the
 * dispatcher consumes them from its own durable queue, and a local HTTP server plays
 * OpenClaw. Run against the embedded broker and against RabbitMQ by the two test files.
 */

export interface BusBackend {
  readonly name: 'embedded' | 'rabbitmq';
  /** How the dispatcher and the test connect: a transport on a shared broker, or a URL. */
  connection(): { transport: Transport } | { amqpUrl: string };
  /** Deletes what a test declared on the broker (RabbitMQ only). */
  cleanup(queues: readonly string[], exchanges: readonly string[]): Promise<void>;
}

export const AMQP_TEST_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

export function embeddedBackend(): BusBackend {
  let broker = new EmbeddedBroker();
  return {
    name: 'embedded',
    connection: () => ({ transport: createEmbeddedTransport({ broker }) }),
    async cleanup() {
      broker = new EmbeddedBroker();
    },
  };
}

export function rabbitBackend(): BusBackend {
  return {
    name: 'rabbitmq',
    connection: () => ({ amqpUrl: AMQP_TEST_URL }),
    async cleanup(queues, exchanges) {
      const conn = await amqp.connect(AMQP_TEST_URL);
      try {
        const ch = await conn.createChannel();
        for (const q of queues) await ch.deleteQueue(q);
        for (const e of exchanges) await ch.deleteExchange(e);
        await ch.close();
      } finally {
        await conn.close();
      }
    },
  };
}

const TIERS = [50, 200, 1000];

class Names {
  readonly prefix = `test.${randomBytes(5).toString('hex')}`;
  readonly dispatcherQueue = `${this.prefix}.infra`;
  readonly watchQueue = `${this.prefix}.watch`;
  get topology(): TopologyOptions & {
    exchange: string;
    dlx: string;
    unroutable: string;
    monitorQueue: string;
  } {
    return {
      exchange: `${this.prefix}.events`,
      dlx: `${this.prefix}.dlx`,
      unroutable: `${this.prefix}.unroutable`,
      monitorQueue: `${this.prefix}.dlx.monitor`,
      retryTiersMs: TIERS,
      messageTtlMs: 60_000,
    };
  }
  queues(): string[] {
    const t = this.topology;
    return [
      t.unroutable,
      t.monitorQueue,
      ...[this.dispatcherQueue, this.watchQueue].flatMap((q) => [
        q,
        dlqName(q),
        ...TIERS.map((tier) => retryQueueName(q, tier)),
      ]),
    ];
  }
  exchanges(): string[] {
    const t = this.topology;
    return [t.exchange, t.dlx, t.unroutable];
  }
}

async function waitFor<T>(probe: () => T | undefined | false, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function runDispatcherBusSuite(backend: BusBackend): void {
  describe(`infra dispatcher on the bus (${backend.name})`, { timeout: 120_000 }, () => {
    let oc: FakeOpenClaw;
    let dir: string;
    let names: Names;
    let testBus: Bus | undefined;
    let watched: EventEnvelope[];
    let running: RunningDispatcher[];
    let connection: ReturnType<BusBackend['connection']>;

    before(async () => {
      oc = await startOpenClaw();
      dir = mkdtempSync(join(tmpdir(), 'infra-bus-'));
    });
    after(async () => {
      await oc.close();
      rmSync(dir, { recursive: true, force: true });
    });

    beforeEach(async () => {
      names = new Names();
      oc.requests.length = 0;
      oc.answers = [];
      oc.delayMs = 0;
      running = [];
      watched = [];
      connection = backend.connection();
      testBus = undefined;
      const bus = await connect({
        app: 'infra-dispatcher-test',
        ...('transport' in connection ? { transport: connection.transport } : { url: connection.amqpUrl }),
        topology: names.topology,
      });
      testBus = bus;
      await bus.subscribe(names.watchQueue, ['infra.dispatch.#'], async (event) => {
        watched.push(event);
      });
    });

    afterEach(async () => {
      for (const d of running) await d.close();
      await testBus?.close();
      if ('transport' in connection) await connection.transport.close();
      await backend.cleanup(names.queues(), names.exchanges());
    });

    async function start(
      statePath: string,
      extra: Partial<StartDispatcherOptions> = {},
    ): Promise<RunningDispatcher> {
      const d = await startDispatcher({
        ...('transport' in connection
          ? { transport: connection.transport }
          : { amqpUrl: connection.amqpUrl }),
        topology: names.topology,
        queue: names.dispatcherQueue,
        statePath,
        port: 0,
        host: '127.0.0.1',
        hookUrl: oc.url,
        logLevel: 'silent',
        openclawRetry: { initialDelayMs: 20, maxDelayMs: 50, maxTotalMs: 5_000 },
        busRetry: { maxAttempts: 2, initialDelayMs: 50, maxDelayMs: 50 },
        ...extra,
        config: { hookToken: 'hook-token-xyz', runChecks: false, checksRoot: dir, ...extra.config },
      });
      running.push(d);
      return d;
    }

    async function stop(d: RunningDispatcher): Promise<void> {
      await d.close();
      running = running.filter((r) => r !== d);
    }

    /** What the gateway publishes for a verified Plane delivery. */
    function webhookEvent(body: Record<string, unknown>): Promise<EventEnvelope> {
      const entity = String(body.event).split('.')[0];
      const action = String(body.action ?? String(body.event).split('.')[1]);
      return testBus!.publish(`webhook.plane.${entity}.${action}`, body, {
        source: { trigger_type: 'webhook' },
      });
    }

    const ofType = (type: string) => watched.filter((e) => e.event_type === type);

    it('dispatches a ready v1 issue and a ready v2 work item exactly once each, with the token and the ticket', async () => {
      await start(join(dir, `${names.prefix}.json`));
      const v1 = planeV1Issue({ title: 'Rotate the broker credentials' });
      const v2 = planeV2WorkItem({
        title: 'Wire the retention job',
        labels: ['ready', 'automation:go', 'comp:candystore'],
      });
      const e1 = await webhookEvent(v1);
      const e2 = await webhookEvent(v2);
      await waitFor(() => ofType('infra.dispatch.completed').length === 2, 'two completed events');
      assert.equal(oc.requests.length, 2);
      for (const r of oc.requests) assert.equal(r.headers.authorization, 'Bearer hook-token-xyz');
      const bySession = new Map(oc.requests.map((r) => [String(r.json?.sessionKey), r.json]));
      const v1Id = (v1.data as { id: string }).id;
      const v2Id = (v2.data as { id: string }).id;
      assert.match(
        String(bySession.get(`hook:infra:${v1Id}`)?.message),
        /Title: Rotate the broker credentials/,
      );
      assert.match(String(bySession.get(`hook:infra:${v2Id}`)?.message), /Component: candystore/);
      // Published inside the handler: each completed event continues its webhook's correlation.
      const c1 = ofType('infra.dispatch.completed').find((e) => e.payload.issue_id === v1Id);
      assert.equal(c1?.correlation_id, e1.correlation_id);
      assert.equal(c1?.causation_id, e1.event_id);
      const c2 = ofType('infra.dispatch.completed').find((e) => e.payload.issue_id === v2Id);
      assert.equal(c2?.causation_id, e2.event_id);
    });

    it('does not dispatch again on a redelivery, nor after a restart on the same state file', async () => {
      const statePath = join(dir, `${names.prefix}.json`);
      const first = await start(statePath);
      const body = planeV1Issue();
      const event = await webhookEvent(body);
      await waitFor(() => ofType('infra.dispatch.completed').length === 1, 'the dispatch');
      // The same envelope again, as a broker redelivery or a replay would bring it.
      await testBus!.publishEnvelope(event);
      await waitFor(() => ofType('infra.dispatch.skipped').length === 1, 'the duplicate to be skipped');
      assert.equal(ofType('infra.dispatch.skipped')[0]?.payload.reason, 'already_dispatched');

      await stop(first);
      await testBus!.publishEnvelope(event);
      await webhookEvent(body); // the same webhook delivered again by Plane: a new event, same ticket
      await start(statePath);
      await waitFor(
        () => ofType('infra.dispatch.skipped').length === 3,
        'both to be skipped after the restart',
      );
      assert.equal(oc.requests.length, 1, 'OpenClaw got the ticket once');
    });

    it('skips a ticket that is not ready, saying why, and sends nothing', async () => {
      await start(join(dir, `${names.prefix}.json`));
      const wrongState = planeV1Issue({ stateName: 'In Progress', stateGroup: 'started' });
      const missingLabel = planeV2WorkItem({ labels: ['ready', 'comp:bloodbank'] });
      await webhookEvent(wrongState);
      await webhookEvent(missingLabel);
      await waitFor(() => ofType('infra.dispatch.skipped').length === 2, 'two skipped events');
      const byIssue = new Map(ofType('infra.dispatch.skipped').map((e) => [e.payload.issue_id, e.payload]));
      const s1 = byIssue.get((wrongState.data as { id: string }).id);
      assert.equal(s1?.reason, 'state_not_ready');
      assert.equal(s1?.detail, "state 'In Progress' (group 'started') not in [unstarted]");
      const s2 = byIssue.get((missingLabel.data as { id: string }).id);
      assert.equal(s2?.reason, 'labels_missing');
      assert.equal(s2?.detail, "missing label 'automation:go'");
      assert.deepEqual(s2?.missing_labels, ['automation:go']);
      assert.equal(oc.requests.length, 0);
    });

    it('retries OpenClaw answering 503, then dispatches once', async () => {
      oc.answers = [503, 503];
      const d = await start(join(dir, `${names.prefix}.json`));
      await webhookEvent(planeV1Issue());
      const [done] = await waitFor(() => {
        const c = ofType('infra.dispatch.completed');
        return c.length === 1 && c;
      }, 'the dispatch');
      assert.deepEqual(
        oc.requests.map((r) => r.status),
        [503, 503, 200],
      );
      assert.equal(oc.accepted().length, 1);
      assert.equal(done?.payload.attempts, 3);
      assert.equal(d.stats.dispatched, 1);
    });

    it('dead-letters the event with the reason when OpenClaw answers 400, and records nothing', async () => {
      oc.answers = [400];
      const statePath = join(dir, `${names.prefix}.json`);
      const d = await start(statePath);
      const body = planeV1Issue();
      const event = await webhookEvent(body);
      await waitFor(() => ofType('infra.dispatch.failed').length === 1, 'the failed event');
      const failed = ofType('infra.dispatch.failed')[0]!;
      assert.equal(failed.payload.error_class, 'DISPATCH_REJECTED');
      assert.equal(failed.payload.retryable, false);
      assert.equal(failed.payload.http_status, 400);

      const letter = await takeDeadLetter(d.bus.transport, dlqName(names.dispatcherQueue));
      letter.ack();
      const envelope = JSON.parse(letter.body.toString('utf8')) as EventEnvelope;
      assert.equal(envelope.event_id, event.event_id);
      const headers = letter.properties.headers ?? {};
      const reason = String(headers[DEAD_LETTER_HEADERS.reason]);
      assert.match(reason, /OpenClaw rejected the dispatch: OpenClaw answered 400/);
      assert.equal(oc.requests.length, 1, 'a 400 is not retried');
      const issueId = (body.data as { id: string }).id;
      assert.deepEqual(d.state.records(issueId), []);
      await d.state.flush();
      const onDisk = existsSync(statePath) ? readFileSync(statePath, 'utf8') : '';
      assert.ok(!onDisk.includes(issueId), 'no record of the dispatch on disk');
    });

    it('kills a component check that runs over its timeout and reports it with the dispatch', async () => {
      const pidFile = join(dir, `${names.prefix}.pid`);
      await start(join(dir, `${names.prefix}.json`), {
        checks: { timeoutMs: 300, killGraceMs: 300 },
        config: {
          runChecks: true,
          checks: { bloodbank: { command: `sleep 30 & echo $! > ${pidFile}; wait`, cwd: '.' } },
        },
      });
      await webhookEvent(planeV1Issue());
      const [done] = await waitFor(() => {
        const c = ofType('infra.dispatch.completed');
        return c.length === 1 && c;
      }, 'the dispatch');
      const [check] = (done?.payload.checks ?? []) as Array<{
        status: string;
        timed_out: boolean;
        reason: string;
      }>;
      assert.equal(check?.status, 'timeout');
      assert.equal(check?.timed_out, true);
      assert.match(String(oc.requests[0]?.json?.message), /timed out after 300 ms/);
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      assert.ok(Number.isInteger(pid) && pid > 0);
      assert.equal(isRunning(pid), false, `the check's process ${pid} is still running`);
    });

    it('on close, lets a dispatch in flight finish and record it before stopping', async () => {
      const statePath = join(dir, `${names.prefix}.json`);
      const d = await start(statePath);
      oc.delayMs = 700;
      const body = planeV1Issue();
      await webhookEvent(body);
      await oc.waitForRequests(1);
      await stop(d);
      // close() returned only after OpenClaw answered and the dispatch was recorded and announced.
      const issueId = (body.data as { id: string }).id;
      const recorded = JSON.parse(readFileSync(statePath, 'utf8')) as { issues: Record<string, unknown[]> };
      assert.equal(recorded.issues[issueId]?.length, 1);
      await waitFor(() => ofType('infra.dispatch.completed').length === 1, 'the completed event');
      assert.equal(oc.requests.length, 1);
    });

    it('on close past the drain timeout, stops a running check and returns the event to its queue', async () => {
      const statePath = join(dir, `${names.prefix}.json`);
      const pidFile = join(dir, `${names.prefix}.check.pid`);
      const d1 = await start(statePath, {
        drainTimeoutMs: 200,
        config: {
          runChecks: true,
          checks: { bloodbank: { command: `echo $$ > ${pidFile}; sleep 30`, cwd: '.' } },
        },
      });
      await webhookEvent(planeV1Issue());
      await waitFor(
        () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '',
        'the check to start',
      );
      const started = Date.now();
      await stop(d1);
      assert.ok(Date.now() - started < 10_000, 'close did not wait for the 30 s check');
      assert.equal(isRunning(Number(readFileSync(pidFile, 'utf8').trim())), false, 'the check was stopped');
      assert.equal(oc.requests.length, 0);
      assert.equal(ofType('infra.dispatch.failed').length, 0, 'a stop is not a failure');

      // The event went back to the queue: the next dispatcher dispatches it.
      await start(statePath);
      await waitFor(() => ofType('infra.dispatch.completed').length === 1, 'the dispatch after the restart');
      assert.equal(oc.requests.length, 1);
    });

    it('dispatches tickets naming Object members (comp:constructor, issue id __proto__) instead of dead-lettering them', async () => {
      const d = await start(join(dir, `${names.prefix}.json`), {
        config: { runChecks: true, checks: { bloodbank: { command: 'true', cwd: '.' } } },
      });
      const bodies = [
        planeV1Issue({ labels: ['ready', 'automation:go', 'comp:constructor'] }),
        planeV2WorkItem({ labels: ['ready', 'automation:go', 'comp:__proto__', 'agent:constructor'] }),
        planeV1Issue({ id: '__proto__' }),
        planeV2WorkItem({ id: 'constructor', labels: ['ready', 'automation:go', 'comp:toString'] }),
      ];
      for (const body of bodies) await webhookEvent(body);
      await waitFor(() => ofType('infra.dispatch.completed').length === bodies.length, 'every dispatch');
      const components = ofType('infra.dispatch.completed').map((e) => e.payload.component);
      assert.deepEqual(components.sort(), ['__proto__', 'bloodbank', 'constructor', 'tostring']);
      const ids = ofType('infra.dispatch.completed').map((e) => String(e.payload.issue_id));
      assert.ok(ids.includes('__proto__') && ids.includes('constructor'));
      await webhookEvent(planeV1Issue({ id: '__proto__' }));
      await waitFor(() => ofType('infra.dispatch.skipped').length === 1, 'the repeat to be skipped');
      assert.equal(ofType('infra.dispatch.skipped')[0]?.payload.reason, 'already_dispatched');
      assert.equal(oc.requests.length, bodies.length);
      assert.equal(d.stats.failed, 0);
      assert.equal(d.stats.lastError, null);
      assert.equal(await d.bus.transport.get(dlqName(names.dispatcherQueue)), null, 'nothing dead-lettered');
    });

    it('answers /health with the bus state and the state file', async () => {
      const d = await start(join(dir, `${names.prefix}.json`));
      const res = await fetch(`${d.url}/health`);
      assert.equal(res.status, 200);
      const body = (await res.json()) as Record<string, unknown>;
      assert.equal(body.status, 'ok');
      assert.deepEqual(body.bus, { state: 'connected', queue: names.dispatcherQueue });
      assert.equal((body.state_file as { writable: boolean }).writable, true);
      assert.equal(body.last_dispatch, null);
    });
  });
}

async function takeDeadLetter(transport: Transport, dlq: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await transport.get(dlq);
    if (got) return got;
    if (Date.now() > deadline) throw new Error(`no dead letter arrived in ${dlq}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Gone = signalling fails, or only a zombie waiting to be reaped is left. */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
