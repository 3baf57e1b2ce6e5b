// `bloodbank topology` and `bloodbank dlq` over AMQP end to end: in-process against RabbitMQ,
// and as a real process for the exit codes. Without an AMQP URL the CLI cannot reach an
// embedded broker (it lives in another process): see embedded-stack.test.ts for that path.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CliIo } from '../../src/cli/command.js';
import { main } from '../../src/cli.js';
import { NonRetryableError } from '../../src/middleware/errors.js';
import { connect } from '../../src/sdk/bus.js';
import { dlqName } from '../../src/topology/names.js';
import { AMQP_TEST_URL, type Backend, backends, TestNames, waitFor } from '../sdk/backends.js';
import { writeRegistry } from '../topology/registry-file.js';

const T = { timeout: 60_000 };
const pkg = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function capture(names: TestNames): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (l) => stdout.push(l),
    err: (l) => stderr.push(l),
    env: {
      BLOODBANK_EXCHANGE: names.topology.exchange,
      BLOODBANK_DLX: names.topology.dlx,
    },
  };
}

function urlArgs(_backend: Backend): string[] {
  return ['--amqp-url', AMQP_TEST_URL];
}

for (const backend of backends().filter((b) => b.name === 'rabbitmq')) {
  describe(`bloodbank CLI on ${backend.name}`, () => {
    test('topology apply, check clean, drift exits 1 with a report', T, async () => {
      const names = new TestNames();
      const transport = await backend.transport();
      try {
        const { path, queues } = writeRegistry(names);
        const io = capture(names);
        assert.equal(
          await main(['topology', 'apply', '--registry', path, ...urlArgs(backend)], io),
          0,
          io.stderr.join('\n'),
        );
        assert.match(io.stdout.join('\n'), /applied .*exchanges, .*queues, .*bindings/);
        const io2 = capture(names);
        assert.equal(await main(['topology', 'check', '--registry', path, ...urlArgs(backend)], io2), 0);
        assert.match(io2.stdout.join('\n'), /topology ok/);

        await transport.unbindQueue(queues.orders, names.topology.exchange, 'order.#');
        await transport.deleteQueue(queues.audit);
        const io3 = capture(names);
        assert.equal(await main(['topology', 'check', '--registry', path, ...urlArgs(backend)], io3), 1);
        const report = io3.stdout.join('\n');
        assert.match(report, /topology drift/);
        assert.match(report, new RegExp(`missing queue\\s+${queues.audit.replaceAll('.', '\\.')}`));
        assert.match(report, /missing binding .*'order\.#'/);
      } finally {
        await transport.close();
        await names.cleanup(backend.name);
      }
    });

    test('dlq list, show, redrive and purge', T, async () => {
      const names = new TestNames();
      const transport = await backend.transport();
      const bus = await connect({ app: 'cli-test', transport, topology: names.topology });
      try {
        const q = names.queue('work');
        let fail = true;
        const done: string[] = [];
        const sub = await bus.subscribe(q, ['work.#'], async (e) => {
          if (fail) throw new NonRetryableError('broken dependency');
          done.push(e.event_id);
        });
        const a = await bus.publish('work.task.created', { a: 1 });
        const b = await bus.publish('work.task.created', { b: 1 });
        await waitFor(
          async () => (await transport.checkQueue(dlqName(q)))?.messageCount === 2,
          'two dead letters',
        );

        const list = capture(names);
        assert.equal(await main(['dlq', 'list', q, ...urlArgs(backend)], list), 0);
        assert.equal(list.stdout.length, 2);
        assert.match(
          list.stdout[0]!,
          new RegExp(
            `^${a.event_id}\\s+work\\.task\\.created\\s+NonRetryableError after 1 attempt\\(s\\): broken dependency`,
          ),
        );

        const json = capture(names);
        assert.equal(await main(['dlq', 'list', q, '--json', ...urlArgs(backend)], json), 0);
        assert.deepEqual(
          (JSON.parse(json.stdout.join('\n')) as { id: string }[]).map((l) => l.id),
          [a.event_id, b.event_id],
        );

        // a page at a time: stdout holds the page, stderr the command for the next one
        const first = capture(names);
        assert.equal(await main(['dlq', 'list', q, '--limit', '1', ...urlArgs(backend)], first), 0);
        assert.equal(first.stdout.length, 1);
        assert.match(first.stdout[0]!, new RegExp(`^${a.event_id}`));
        const next = /--cursor (\S+)$/.exec(first.stderr.join('\n'))?.[1];
        assert.ok(next, first.stderr.join('\n'));
        const second = capture(names);
        assert.equal(
          await main(['dlq', 'list', q, '--limit', '1', '--cursor', next, ...urlArgs(backend)], second),
          0,
        );
        assert.equal(second.stdout.length, 1);
        assert.match(second.stdout[0]!, new RegExp(`^${b.event_id}`));
        assert.deepEqual(second.stderr, [], 'the last page names no next one');
        const tooMany = capture(names);
        assert.equal(await main(['dlq', 'list', q, '--limit', '501', ...urlArgs(backend)], tooMany), 2);

        const show = capture(names);
        assert.equal(await main(['dlq', 'show', q, b.event_id, ...urlArgs(backend)], show), 0);
        assert.match(show.stdout.join('\n'), /reason\s+broken dependency/);
        const missing = capture(names);
        assert.equal(await main(['dlq', 'show', q, 'nope', ...urlArgs(backend)], missing), 1);
        assert.match(missing.stderr.join('\n'), /NOT_FOUND/);

        const usage = capture(names);
        assert.equal(
          await main(['dlq', 'redrive', q, ...urlArgs(backend)], usage),
          2,
          'redrive needs ids or --all',
        );

        fail = false;
        const redrive = capture(names);
        assert.equal(await main(['dlq', 'redrive', q, a.event_id, ...urlArgs(backend)], redrive), 0);
        await waitFor(() => done.length === 1, 'the redriven event');
        assert.deepEqual(done, [a.event_id]);

        const purge = capture(names);
        assert.equal(await main(['dlq', 'purge', q, '--all', ...urlArgs(backend)], purge), 0);
        assert.match(purge.stdout.join('\n'), /purged 1 dead letter/);
        await sub.cancel();
      } finally {
        await bus.close();
        await transport.close();
        await names.cleanup(backend.name);
      }
    });
  });
}

describe('bloodbank as a process', () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        'tsx',
        '-e',
        "import('./src/cli.ts').then((m) => m.main(process.argv.slice(1))).then((code) => { process.exitCode = code; })",
        ...args,
      ],
      { cwd: pkg, encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'silent', AMQP_URL: '', ...env } },
    );

  test('check against a broker without the topology exits 1 and lists what is missing', T, () => {
    const names = new TestNames();
    const { path } = writeRegistry(names);
    const r = run(['topology', 'check', '--registry', path], {
      BLOODBANK_EXCHANGE: names.topology.exchange,
      AMQP_URL: AMQP_TEST_URL,
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /missing exchange\s+test\.[0-9a-f]+\.events/);
  });

  test('usage errors exit 2; a bad AMQP URL exits 1 with a clear message and no password', T, () => {
    assert.equal(run(['topology', 'sideways']).status, 2);
    assert.equal(run(['nonsense']).status, 2);
    const bad = run(['topology', 'check', '--amqp-url', 'http://guest:hunter2@localhost']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /INVALID_BROKER_URL/);
    assert.doesNotMatch(bad.stderr + bad.stdout, /hunter2/);
  });

  test('topology without an AMQP URL exits 1: an embedded broker cannot be reached from here', T, () => {
    const r = run(['topology', 'check']);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /bloodbank topology check needs RabbitMQ: set AMQP_URL or pass --amqp-url/);
  });
});
