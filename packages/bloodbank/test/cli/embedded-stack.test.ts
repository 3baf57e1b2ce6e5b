// `bb tail` and `bb dlq` against the all-in-one stack on its embedded broker, as `npm start`
// runs it: the CLI has no AMQP URL, so it goes through Candystore's live stream and the
// gateway's dead-letter API. (The stack is started in this process only to host the parts;
// the CLI reaches them over HTTP and WebSocket, exactly as a separate `bb` process would.)
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type RunningStack, startStack } from '@33god/all-in-one';
import type { CliIo } from '../../src/cli/command.js';
import { main } from '../../src/cli.js';
import { NonRetryableError } from '../../src/middleware/errors.js';
import { connect } from '../../src/sdk/bus.js';
import type { Bus } from '../../src/sdk/types.js';
import { dlqName } from '../../src/topology/names.js';
import { TestNames, waitFor } from '../sdk/backends.js';
import { writeRegistry } from '../topology/registry-file.js';

const T = { timeout: 60_000 };

type Captured = CliIo & { stdout: string[]; stderr: string[] };

function capture(env: NodeJS.ProcessEnv): Captured {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l), env };
}

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('bb tail and bb dlq against npm start (embedded broker, no AMQP URL)', () => {
  const names = new TestNames();
  const { path: registryPath, queues } = writeRegistry(names);
  let stack: RunningStack;
  let bus: Bus;
  /** What a `bb` process sees: the parts' URLs and no AMQP_URL. */
  let cliEnv: NodeJS.ProcessEnv;

  before(async () => {
    stack = await startStack({
      inMemory: true,
      host: '127.0.0.1',
      ports: { gateway: 0, store: 0, dashboard: 0, dispatcher: 0 },
      env: {
        BLOODBANK_EXCHANGE: names.topology.exchange,
        BLOODBANK_DLX: names.topology.dlx,
        SERVICES_REGISTRY: registryPath,
        CANDYSTORE_QUEUE: names.queue('store'),
        BLOODBANK_HEALTH_INTERVAL: '0',
        LOG_LEVEL: 'silent',
      },
    });
    bus = await connect({ app: 'cli-embedded-test', transport: stack.transport, topology: names.topology });
    cliEnv = { BLOODBANK_URL: stack.gateway.url, CANDYSTORE_URL: stack.store.url, NO_COLOR: '1' };
  });

  after(async () => {
    await bus?.close();
    await stack?.close();
  });

  test('bb tail prints an event published through the gateway, and stops on Ctrl-C', T, async () => {
    let stop!: () => void;
    const interrupted = new Promise<void>((r) => {
      stop = r;
    });
    const io = capture(cliEnv);
    const done = main(['tail', 'test.#'], { ...io, interrupted } as CliIo);
    try {
      await waitFor(() => io.stderr.some((l) => l.startsWith('tailing')), 'bb tail to go live');
      const correlation = '0190aaaa-bbbb-7ccc-8ddd-00000000f00d';
      // Not matching the pattern: never printed.
      await bus.publish('work.task.created', { skip: true });
      const res = await fetch(`${stack.gateway.url}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          event_type: 'test.event.created',
          payload: { message: 'hello tail' },
          correlation_id: correlation,
          source: { app: 'tail-test', host: 'here', trigger_type: 'manual' },
        }),
      });
      assert.equal(res.status, 202, await res.text());
      await waitFor(() => io.stdout.length >= 1, 'the event line');
      assert.match(
        io.stdout[0]!,
        /^\d\d:\d\d:\d\d\.\d{3} {2}test\.event\.created {2}tail-test@here {2}0000f00d {2}\{"message":"hello tail"\}$/,
      );
    } finally {
      stop();
    }
    assert.equal(await done, 0, io.stderr.join('\n'));
    assert.equal(io.stdout.length, 1, io.stdout.join('\n'));
  });

  test('bb dlq list shows a dead letter, redrive returns it and the handler gets it', T, async () => {
    const q = queues.orders;
    let fail = true;
    const handled: string[] = [];
    const sub = await bus.subscribe(q, ['order.#'], async (e) => {
      if (fail) throw new NonRetryableError('broken dependency');
      handled.push(e.event_id);
    });
    try {
      const dead = await bus.publish('order.item.created', { sku: 'A-1' });
      await waitFor(
        async () => (await stack.transport.checkQueue(dlqName(q)))?.messageCount === 1,
        'the dead letter',
      );

      // Every dead-letter queue of the gateway's registry with its count.
      const all = capture(cliEnv);
      assert.equal(await main(['dlq', 'list'], all), 0, all.stderr.join('\n'));
      const row = all.stdout.find((l) => l.includes(dlqName(q)));
      assert.ok(row, all.stdout.join('\n'));
      assert.match(row, new RegExp(`^\\s+1  ${dlqName(q).replaceAll('.', '\\.')}$`));

      const list = capture(cliEnv);
      assert.equal(await main(['dlq', 'list', q], list), 0, list.stderr.join('\n'));
      assert.equal(list.stdout.length, 1);
      assert.match(
        list.stdout[0]!,
        new RegExp(
          `^${dead.event_id}\\s+order\\.item\\.created\\s+NonRetryableError after 1 attempt\\(s\\): broken dependency$`,
        ),
      );

      const show = capture(cliEnv);
      assert.equal(await main(['dlq', 'show', q, dead.event_id], show), 0, show.stderr.join('\n'));
      const text = show.stdout.join('\n');
      assert.match(text, /reason\s+broken dependency/);
      assert.match(text, new RegExp(`correlation\\s+${dead.correlation_id}`));
      const missing = capture(cliEnv);
      assert.equal(await main(['dlq', 'show', q, 'nope'], missing), 1);
      assert.equal(missing.stderr.length, 1, missing.stderr.join('\n'));
      assert.match(missing.stderr[0]!, /^error NOT_FOUND: .*nope/);

      fail = false;
      const redrive = capture(cliEnv);
      assert.equal(await main(['dlq', 'redrive', q, '--all'], redrive), 0, redrive.stderr.join('\n'));
      assert.deepEqual(redrive.stdout, [`redrove 1 dead letter(s) to ${q}`]);
      await waitFor(() => handled.length === 1, 'the redriven event at the handler');
      assert.deepEqual(handled, [dead.event_id]);
      assert.equal((await stack.transport.checkQueue(dlqName(q)))?.messageCount, 0);

      const purge = capture(cliEnv);
      assert.equal(await main(['dlq', 'purge', q, 'gone'], purge), 1);
      assert.deepEqual(purge.stdout, [`purged 0 dead letter(s) of ${q}`, 'not found: gone']);
    } finally {
      await sub.cancel();
    }
  });

  test('unreachable gateway or store: exit 1 with one line', T, async () => {
    const port = await deadPort();
    const dead = `http://127.0.0.1:${port}`;

    const dlq = capture({ BLOODBANK_URL: dead });
    assert.equal(await main(['dlq', 'list'], dlq), 1);
    assert.deepEqual(dlq.stdout, []);
    assert.equal(dlq.stderr.length, 1, dlq.stderr.join('\n'));
    assert.match(dlq.stderr[0]!, new RegExp(`cannot reach the gateway at ${dead} \\(connection refused\\)`));

    const flag = capture({});
    assert.equal(await main(['dlq', 'redrive', 'q', '--all', '--gateway', dead], flag), 1);
    assert.equal(flag.stderr.length, 1, flag.stderr.join('\n'));
    assert.match(flag.stderr[0]!, /cannot reach the gateway/);

    const tail = capture({ CANDYSTORE_URL: dead });
    assert.equal(await main(['tail'], { ...tail, interrupted: new Promise<void>(() => {}) } as CliIo), 1);
    assert.deepEqual(tail.stdout, []);
    assert.equal(tail.stderr.length, 1, tail.stderr.join('\n'));
    assert.match(
      tail.stderr[0]!,
      new RegExp(`cannot reach the event store at ${dead} \\(connection refused\\)`),
    );

    const store = capture({});
    assert.equal(
      await main(['tail', '--store-url', dead], {
        ...store,
        interrupted: new Promise<void>(() => {}),
      } as CliIo),
      1,
    );
    assert.match(store.stderr[0]!, /cannot reach the event store/);
  });
});

describe('bb tail and bb dlq with tokens configured (BB_TOKEN)', () => {
  const names = new TestNames();
  const { path: registryPath } = writeRegistry(names);
  const READ = 'cli-read-token-0123456789';
  const PUBLISH = 'cli-publish-token-0123456789';
  let stack: RunningStack;

  before(async () => {
    stack = await startStack({
      inMemory: true,
      ports: { gateway: 0, store: 0, dashboard: 0, dispatcher: 0 },
      env: {
        BLOODBANK_EXCHANGE: names.topology.exchange,
        BLOODBANK_DLX: names.topology.dlx,
        SERVICES_REGISTRY: registryPath,
        CANDYSTORE_QUEUE: names.queue('store'),
        BLOODBANK_HEALTH_INTERVAL: '0',
        LOG_LEVEL: 'silent',
        AUTH_TOKENS: `${READ}=cli-reader:read,${PUBLISH}=cli-publisher:publish`,
      },
    });
  });

  after(async () => {
    await stack?.close();
  });

  const env = (token?: string): NodeJS.ProcessEnv => ({
    BLOODBANK_URL: stack.gateway.url,
    CANDYSTORE_URL: stack.store.url,
    NO_COLOR: '1',
    ...(token ? { BB_TOKEN: token } : {}),
  });

  test('without a token bb tail and bb dlq list exit 1 with one line naming the refusal', T, async () => {
    const tail = capture(env());
    assert.equal(await main(['tail'], tail), 1);
    assert.equal(tail.stderr.length, 1, tail.stderr.join('\n'));
    assert.match(tail.stderr[0]!, /UNAUTHORIZED/);
    const list = capture(env(PUBLISH));
    assert.equal(await main(['dlq', 'list'], list), 1);
    assert.match(list.stderr.join('\n'), /FORBIDDEN_SCOPE|403/);
  });

  test('with a read token in BB_TOKEN bb tail goes live and bb dlq list answers', T, async () => {
    let stop!: () => void;
    const interrupted = new Promise<void>((r) => {
      stop = r;
    });
    const io = capture(env(READ));
    const done = main(['tail'], { ...io, interrupted } as CliIo);
    try {
      await waitFor(() => io.stderr.some((l) => l.startsWith('tailing')), 'bb tail to go live with a token');
    } finally {
      stop();
    }
    assert.equal(await done, 0, io.stderr.join('\n'));
    const list = capture(env(READ));
    assert.equal(await main(['dlq', 'list'], list), 0, list.stderr.join('\n'));
  });
});
