/**
 * Push subscriptions to a Python endpoint, end to end: a real Python receiver process
 * (test/python/push_receiver.py: `bloodbank_client.Receiver` served by wsgiref), a real
 * gateway on RabbitMQ whose registry pushes to it (`ordered: true`, signed through
 * `secret_env`), and pytest (test/python/test_push_e2e.py) publishing with `Client.publish`
 * through the gateway and checking what the receiver got and, for a receiver answering 500,
 * what the gateway's dead-letter API shows. The gateway reads its registry at start, so the
 * receiver (whose port the OS chooses) starts first and pytest after the gateway.
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import {
  createRabbitMqTransport,
  DEAD_LETTER_HEADERS,
  DEFAULT_RETRY_TIERS_MS,
  dlqName,
  type Gateway,
  retryQueueName,
  startGateway,
  type Transport,
} from '@33god/bloodbank';
import { AMQP_URL, rand, SCHEMAS_DIR } from '../../packages/bloodbank/test/gateway/helpers.js';
import { waitFor } from '../../packages/bloodbank/test/sdk/backends.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CLIENT = resolve(ROOT, 'clients/python');
const RECEIVER_SCRIPT = 'test/python/push_receiver.py';
const PYTEST_FILE = 'test/python/test_push_e2e.py';
const SECRET_ENV = 'PY_PUSH_TEST_SECRET';
// The registry's queue_options.max_attempts; the gateway's retry backoff is shortened below.
const MAX_ATTEMPTS = 3;
const T = { timeout: 240_000 };

const pythonEnv = (): Record<string, string> => ({
  PYTHONPATH: [CLIENT, process.env.PYTHONPATH].filter(Boolean).join(delimiter),
  PYTHONDONTWRITEBYTECODE: '1',
  PYTHONUNBUFFERED: '1',
});

interface PythonReceiver {
  readonly url: string;
  readonly output: () => string;
  stop(): Promise<void>;
}

/** Starts push_receiver.py and waits for the port it prints. */
function startPythonReceiver(record: string, secret: string, flags: string[]): Promise<PythonReceiver> {
  const args = [RECEIVER_SCRIPT, '--record', record, '--secret-env', SECRET_ENV, ...flags];
  const child: ChildProcessWithoutNullStreams = spawn('python3', args, {
    cwd: ROOT,
    env: { ...process.env, ...pythonEnv(), [SECRET_ENV]: secret },
  });
  let stdout = '';
  let stderr = '';
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
    }
  };
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`the Python receiver printed no port:\n${stdout}${stderr}`));
    }, 30_000);
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
      const port = /^LISTENING (\d+)$/m.exec(stdout)?.[1];
      if (port) {
        clearTimeout(timer);
        resolveStart({ url: `http://127.0.0.1:${port}/hooks/bus`, output: () => stdout + stderr, stop });
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`the Python receiver exited (${code}) before listening:\n${stdout}${stderr}`));
    });
  });
}

/** Runs pytest without blocking this process: the gateway it talks to lives in this event loop. */
function pytest(
  nodeId: string,
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn('python3', ['-m', 'pytest', nodeId, '-q', '-p', 'no:cacheprovider', '-rs'], {
      cwd: ROOT,
      env: { ...process.env, ...pythonEnv(), ...env },
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      output += c.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 200_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, output });
    });
  });
}

/** Waits (bounded) for the transport to be connected: other suites restart the shared broker. */
async function connected(transport: Transport, ms: number): Promise<void> {
  if (transport.state === 'connected') return;
  await new Promise<void>((resolveWait) => {
    let off = () => {};
    const done = () => {
      clearTimeout(timer);
      off();
      resolveWait();
    };
    const timer = setTimeout(done, ms);
    off = transport.onStateChange((state) => {
      if (state === 'connected') done();
    });
  });
}

/** A broker call from this side, tried again while the shared broker restarts (BROKER_UNAVAILABLE). */
async function onBroker<R>(transport: Transport, call: () => Promise<R>): Promise<R> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    await connected(transport, Math.max(0, deadline - Date.now()));
    try {
      return await call();
    } catch (error) {
      if (Date.now() > deadline || (error as { code?: unknown }).code !== 'BROKER_UNAVAILABLE') throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

interface Phase {
  gateway: Gateway;
  transport: Transport;
  queue: string;
  receiver: PythonReceiver;
  /** What pytest published: its correlation and the event ids in publish order. */
  published(): { correlation_id: string; event_ids: string[] };
}

/**
 * The Python receiver (started with `receiverFlags`), a gateway on RabbitMQ pushing to it,
 * pytest's one test `name`; then `check` on the Node side. Everything declared on the broker
 * is deleted afterwards.
 */
async function withPushToPython(
  name: string,
  receiverFlags: string[],
  check: (p: Phase) => Promise<void>,
): Promise<void> {
  // Other suites restart the shared broker now and then: wait for it rather than fail at once.
  const transport = await createRabbitMqTransport({ url: AMQP_URL, initialConnect: 'retry' });
  const dir = mkdtempSync(join(tmpdir(), 'bb-python-push-'));
  const record = join(dir, 'received.jsonl');
  const publishedFile = join(dir, 'published.json');
  writeFileSync(record, '');
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const prefix = `test.${rand()}`;
  const exchange = `${prefix}.events`;
  const dlx = `${prefix}.dlx`;
  const queue = `${prefix}.py-push`;
  let receiver: PythonReceiver | null = null;
  let gateway: Gateway | null = null;
  try {
    await connected(transport, 60_000);
    assert.equal(transport.state, 'connected', 'the broker (TEST_AMQP_URL) stayed unreachable');
    receiver = await startPythonReceiver(record, secret, receiverFlags);
    const registryPath = join(dir, 'registry.yaml');
    writeFileSync(
      registryPath,
      [
        'version: "1.0"',
        'exchange:',
        `  name: "${exchange}"`,
        '  type: "topic"',
        '  durable: true',
        'services:',
        '  py-push:',
        '    name: "py-push"',
        `    queue_name: "${queue}"`,
        '    routing_keys: ["test.event.created"]',
        `    queue_options: { max_attempts: ${MAX_ATTEMPTS} }`,
        '    push:',
        `      url: "${receiver.url}"`,
        `      secret_env: "${SECRET_ENV}"`,
        '      ordered: true',
        '      concurrency: 4',
        // Room for the receiver holding the first event while the others are published.
        '      timeout_ms: 30000',
        '',
      ].join('\n'),
    );
    gateway = await startGateway({
      port: 0,
      transport,
      exchange,
      dlx,
      schemasDir: SCHEMAS_DIR,
      registryPath,
      env: { [SECRET_ENV]: secret },
      // As the push tests do: the SDK's retry tiers with a short backoff, and a breaker that
      // does not pause the subscription while every attempt fails on purpose.
      push: {
        retry: { initialDelayMs: 20, maxDelayMs: 100, jitter: 0 },
        breaker: { failureThreshold: 1000 },
      },
      healthIntervalMs: 0,
      watchSchemas: false,
      subscribeSchemaUpdates: false,
      deadLetterMonitor: false,
      logLevel: 'silent',
    });
    const status = gateway.push?.status() ?? [];
    assert.equal(status.length, 1, 'the gateway runs the registry push subscription');
    assert.equal(status[0]!.queue, queue);
    assert.equal(status[0]!.ordered, true);
    assert.equal(status[0]!.signed, true);

    const run = await pytest(`${PYTEST_FILE}::${name}`, {
      BLOODBANK_TEST_GATEWAY_URL: gateway.url,
      BLOODBANK_TEST_PUSH_RECORD: record,
      BLOODBANK_TEST_PUSH_RECEIVER_URL: receiver.url,
      BLOODBANK_TEST_PUSH_QUEUE: queue,
      BLOODBANK_TEST_PUSH_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
      BLOODBANK_TEST_PUSH_PUBLISHED: publishedFile,
    });
    const rx = receiver;
    assert.equal(run.code, 0, `pytest failed:\n${run.output}\nreceiver:\n${rx.output()}`);
    assert.match(run.output, /\b1 passed\b/, run.output);
    assert.doesNotMatch(run.output, /skipped|deselected/i, `the test must run:\n${run.output}`);
    console.log(`pytest ${name}: ${run.output.trim().split('\n').pop()}`);

    const gw = gateway;
    await check({
      gateway: gw,
      transport,
      queue,
      receiver: rx,
      published: () => JSON.parse(readFileSync(publishedFile, 'utf8')),
    });
  } finally {
    await gateway?.close();
    await receiver?.stop();
    const queues = [
      queue,
      dlqName(queue),
      ...DEFAULT_RETRY_TIERS_MS.map((tier) => retryQueueName(queue, tier)),
      `${dlx}.monitor`,
      `${exchange}.unroutable`,
    ];
    for (const q of queues) await transport.deleteQueue(q).catch(() => {});
    for (const x of [exchange, dlx, `${exchange}.unroutable`])
      await transport.deleteExchange(x).catch(() => {});
    await transport.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('push subscriptions to a Python receiver (pytest, real gateway, RabbitMQ)', () => {
  test(
    'the receiver gets every event of a correlation, signature verified, parsed, in publish order',
    T,
    async () => {
      await withPushToPython(
        'test_pushed_events_arrive_verified_parsed_and_in_publish_order',
        ['--hold-first'],
        async (p) => {
          const { event_ids } = p.published();
          const push = p.gateway.push!;
          await waitFor(() => push.status()[0]!.delivered >= event_ids.length, 'the deliveries counted');
          const status = push.status()[0]!;
          assert.equal(status.delivered, event_ids.length);
          assert.equal(status.failed, 0);
          assert.equal(status.rejected, 0);
          assert.equal(
            (await onBroker(p.transport, () => p.transport.checkQueue(p.queue)))?.messageCount,
            0,
            'nothing left in the queue',
          );
          assert.equal(
            (await onBroker(p.transport, () => p.transport.checkQueue(dlqName(p.queue))))?.messageCount,
            0,
            'no dead letters',
          );
        },
      );
    },
  );

  test(
    'a receiver answering 500: each event retried, then dead-lettered with the status and body start',
    T,
    async () => {
      await withPushToPython(
        'test_an_endpoint_answering_500_sends_each_event_through_the_retries_to_the_dead_letters',
        ['--fail'],
        async (p) => {
          const { event_ids } = p.published();
          const status = p.gateway.push!.status()[0]!;
          assert.equal(status.delivered, 0);
          assert.equal(status.failed, event_ids.length * MAX_ATTEMPTS);
          assert.equal(status.recent_failures[0]!.status, 500);
          // The dead letters as the broker holds them (pytest read them through the gateway's API).
          const seen = new Set<string>();
          for (;;) {
            const d = await onBroker(p.transport, () => p.transport.get(dlqName(p.queue)));
            if (!d) break;
            d.ack();
            const headers = d.properties.headers ?? {};
            assert.match(String(headers[DEAD_LETTER_HEADERS.reason]), /endpoint answered 500: \{"type": /);
            assert.equal(headers[DEAD_LETTER_HEADERS.errorClass], 'PUSH_DELIVERY_FAILED');
            assert.equal(Number(headers[DEAD_LETTER_HEADERS.attempts]), MAX_ATTEMPTS);
            seen.add(String(d.properties.messageId));
          }
          assert.deepEqual([...seen].sort(), [...event_ids].sort());
          assert.equal(
            (await onBroker(p.transport, () => p.transport.checkQueue(p.queue)))?.messageCount,
            0,
            'nothing left to retry',
          );
        },
      );
    },
  );
});
