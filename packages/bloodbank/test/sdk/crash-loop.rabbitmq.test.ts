// A handler that crashes its process (an unhandled rejection from a promise it never
// awaited) must not crash-loop its consumers forever: after maxRedeliveries stops the
// message is dead-lettered with the reason, and the next consumer process keeps running.
// Real processes on the real RabbitMQ.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { DEAD_LETTER_HEADERS as H } from '../../src/dead-letters/headers.js';
import { connect } from '../../src/sdk/bus.js';
import { dlqName } from '../../src/topology/names.js';
import { AMQP_TEST_URL, TestNames } from './backends.js';

const script = fileURLToPath(new URL('./fixtures/crashing-consumer.ts', import.meta.url));

interface Run {
  proc: ChildProcess;
  out: string[];
  exited: Promise<number | null>;
}

function consumer(names: TestNames, queue: string, max: number): Run {
  const proc = spawn(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      script,
      AMQP_TEST_URL,
      JSON.stringify(names.topology),
      queue,
      String(max),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'silent' } },
  );
  const out: string[] = [];
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => out.push(...d.split('\n').filter(Boolean)));
  proc.stderr!.resume();
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, out, exited };
}

test('a message that crashes its consumer is dead-lettered after maxRedeliveries; consumers keep going', {
  timeout: 120_000,
}, async () => {
  const names = new TestNames();
  const queue = names.queue('crashy');
  const max = 2;
  const bus = await connect({
    url: AMQP_TEST_URL,
    app: 'crash-test',
    topology: names.topology,
    unknownTypes: 'allow',
  });
  const conn = await amqp.connect(AMQP_TEST_URL);
  const ch = await conn.createChannel();
  try {
    // declare the queue as the consumer will, then queue the poison and a good event behind it
    const first = consumer(names, queue, max);
    await waitForLine(first, 'ready');
    first.proc.kill('SIGTERM');
    await first.exited;
    const poison = await bus.publish('test.crash.happened', { crash: true });
    const good = await bus.publish('test.crash.happened', { crash: false });

    // A redelivered poison goes to the back of its queue, so the good event is handled
    // in between: consumers are never stuck behind the poison either.
    let crashes = 0;
    let survivor: Run | null = null;
    const outputs: string[] = [];
    const deadLettered = async () => (await ch.checkQueue(dlqName(queue))).messageCount > 0;
    for (let run = 0; run < max + 3 && !survivor; run++) {
      const r = consumer(names, queue, max);
      const outcome = await Promise.race([
        r.exited.then((code) => ({ exited: code })),
        (async () => {
          while (r.proc.exitCode === null && !(await deadLettered())) await sleep(50);
          return { exited: undefined };
        })(),
      ]);
      if (outcome.exited === undefined && r.proc.exitCode === null) survivor = r;
      else {
        await r.exited;
        assert.notEqual(r.proc.exitCode, 0, 'the consumer crashed');
        crashes++;
        outputs.push(...r.out);
      }
    }
    assert.ok(survivor, 'the poison was dead-lettered while a consumer process was running');
    // the first delivery and each of the `max` redelivered copies crashed a process once
    assert.equal(crashes, max + 1);
    await sleep(500);
    assert.equal(survivor.proc.exitCode, null, 'the consumer keeps running after the dead letter');
    outputs.push(...survivor.out);
    assert.equal(outputs.filter((l) => l === `handled ${good.event_id}`).length, 1, 'the good event, once');
    assert.ok(!outputs.includes(`handled ${poison.event_id}`), 'the poison never completed');
    survivor.proc.kill('SIGTERM');
    await survivor.exited;

    const dead = await ch.get(dlqName(queue), { noAck: true });
    assert.ok(dead, 'the poison is in the dead-letter queue');
    assert.equal(dead.properties.messageId, poison.event_id);
    const h = dead.properties.headers ?? {};
    assert.equal(String(h[H.errorClass]), 'ConsumerStoppedError');
    assert.match(String(h[H.reason]), /delivered 3 times to a consumer that stopped before settling it/);
    assert.equal(Number(h[H.redeliveries]), max);
    assert.equal(await ch.get(dlqName(queue), { noAck: true }), false, 'only the poison');
  } finally {
    await ch.close().catch(() => {});
    await conn.close().catch(() => {});
    await bus.close();
    await names.cleanup('rabbitmq');
  }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function waitForLine(r: Run, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (r.out.includes(line)) {
        clearInterval(timer);
        resolve();
      }
    }, 20);
    void r.exited.then(() => {
      setTimeout(() => {
        clearInterval(timer);
        if (r.out.includes(line)) resolve();
        else reject(new Error(`exited before printing '${line}'`));
      }, 50);
    });
  });
}
