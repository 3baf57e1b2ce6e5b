import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import amqplib from 'amqplib';
import { run as publish } from '../../src/cli/publish.js';
import { run as tail } from '../../src/cli/tail.js';
import { AMQP_URL, rand, SCHEMAS_DIR } from './helpers.js';

const T = { timeout: 40_000 };

function io(env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l), env } };
}

async function until(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('bb tail and bb publish --amqp-url (rabbitmq)', () => {
  test('tail prints one readable line per matching event and cleans up on Ctrl-C', T, async () => {
    const exchange = `test.${rand()}.events`;
    const dlx = `test.${rand()}.dlx`;
    const conn = await amqplib.connect(AMQP_URL);
    const ch = await conn.createChannel();
    await ch.assertExchange(exchange, 'topic', { durable: false });
    let stop!: () => void;
    const interrupted = new Promise<void>((r) => {
      stop = r;
    });
    const t = io({ AMQP_URL, NO_COLOR: '1' });
    const done = tail(['test.#', '--exchange', exchange], { ...t.io, interrupted });
    try {
      await until('tail to start', () => t.err.some((l) => l.startsWith('tailing')));
      // bb publish declares the bus's exchanges beside this one (ensureExchanges): with this dlx, not the default's
      const p = io({ HOLYFIELDS_SCHEMAS: SCHEMAS_DIR, BLOODBANK_DLX: dlx });
      const corr = '0190aaaa-bbbb-7ccc-8ddd-00000000abcd';
      assert.equal(
        await publish(
          [
            'test.event.created',
            '--payload',
            '{"message":"hello tail"}',
            '--amqp-url',
            AMQP_URL,
            '--exchange',
            exchange,
            '--correlation-id',
            corr,
          ],
          p.io,
        ),
        0,
        p.err.join('\n'),
      );
      // Not matching the pattern: not printed.
      ch.publish(exchange, 'agent.heartbeat', Buffer.from('{}'));
      await until('the event line', () => t.out.length >= 1);
      assert.match(
        t.out[0]!,
        /^\d\d:\d\d:\d\d\.\d{3} {2}test\.event\.created {2}bb-cli@\S+ {2}0000abcd {2}\{"message":"hello tail"\}$/,
      );
      const eventId = /^published (\S+)/.exec(p.out[0]!)?.[1];
      assert.ok(eventId);
    } finally {
      stop();
    }
    assert.equal(await done, 0);
    assert.equal(t.out.length, 1);
    // and what bb publish declared beside it: the alternate exchange with its queue, the dead letters
    for (const q of [`${exchange}.unroutable`, `${dlx}.monitor`]) await ch.deleteQueue(q);
    for (const x of [exchange, `${exchange}.unroutable`, dlx]) await ch.deleteExchange(x);
    await conn.close();
  });

  test('clear errors: broker unreachable', T, async () => {
    const down = io({ HOLYFIELDS_SCHEMAS: SCHEMAS_DIR });
    assert.equal(
      await publish(
        [
          'test.event.created',
          '--payload',
          '{"message":"x"}',
          '--amqp-url',
          'amqp://guest:guest@127.0.0.1:1',
        ],
        down.io,
      ),
      1,
    );
    assert.equal(down.err.length, 1, down.err.join('\n'));
    assert.match(down.err[0]!, /^error BROKER_UNAVAILABLE: .*127\.0\.0\.1:1/);
    assert.doesNotMatch(down.err[0]!, /guest:guest/);
  });
});
