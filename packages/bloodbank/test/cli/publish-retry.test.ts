// `bb publish` through the gateway: a 503 or 429 is retried after Retry-After with the same
// event id; any other refusal fails at once. The gateway here is a stub HTTP server, since
// the answers under test (503 then 202) are ones a real gateway gives only under load.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { describe, test } from 'node:test';
import type { CliIo } from '../../src/cli/command.js';
import { run } from '../../src/cli/publish.js';

const T = { timeout: 20_000 };

type Answer = { status: number; headers?: Record<string, string> };

/** A gateway that gives `answers` in turn (the last one repeats) and records every body. */
async function stubGateway(answers: Answer[]) {
  const bodies: Record<string, unknown>[] = [];
  const server: Server = createServer(async (req: IncomingMessage, res) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    const body = JSON.parse(text) as Record<string, unknown>;
    bodies.push(body);
    const answer = answers[Math.min(bodies.length - 1, answers.length - 1)]!;
    res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
    res.end(
      JSON.stringify(
        answer.status === 202
          ? { event_id: body.event_id, event_type: body.event_type, correlation_id: body.event_id }
          : { code: answer.status === 422 ? 'SCHEMA_VIOLATION' : 'PUBLISH_NACKED', title: 'refused' },
      ),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return { url, bodies, close: () => new Promise((r) => server.close(r)) };
}

function capture(): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l), env: {} };
}

describe('bb publish retries a gateway that is busy', () => {
  test('a 503 with Retry-After: 1 is sent again with the same event id, then succeeds', T, async () => {
    const gw = await stubGateway([{ status: 503, headers: { 'retry-after': '1' } }, { status: 202 }]);
    try {
      const io = capture();
      const started = Date.now();
      const code = await run(['test.thing.created', '--payload', '{"name":"x"}', '--gateway', gw.url], io);
      assert.equal(code, 0, io.stderr.join('\n'));
      assert.equal(gw.bodies.length, 2);
      assert.ok(typeof gw.bodies[0]!.event_id === 'string');
      assert.equal(gw.bodies[1]!.event_id, gw.bodies[0]!.event_id);
      assert.ok(Date.now() - started >= 900, 'waited Retry-After');
      assert.equal(io.stderr.length, 1);
      assert.match(io.stderr[0]!, /503.*retrying/);
      assert.match(io.stdout[0]!, new RegExp(`^published ${gw.bodies[0]!.event_id} `));
    } finally {
      await gw.close();
    }
  });

  test('a 422 is not retried', T, async () => {
    const gw = await stubGateway([{ status: 422 }]);
    try {
      const io = capture();
      const code = await run(['test.thing.created', '--payload', '{"name":3}', '--gateway', gw.url], io);
      assert.equal(code, 1);
      assert.equal(gw.bodies.length, 1);
      assert.match(io.stderr.join('\n'), /SCHEMA_VIOLATION/);
    } finally {
      await gw.close();
    }
  });

  test('a gateway that cannot be reached is retried until --retry-for runs out', T, async () => {
    const gw = await stubGateway([{ status: 202 }]);
    await gw.close();
    const io = capture();
    const code = await run(
      ['test.thing.created', '--payload', '{"name":"x"}', '--gateway', gw.url, '--retry-for', '1.5'],
      io,
    );
    assert.equal(code, 1);
    assert.equal(io.stderr.filter((l) => /cannot reach the gateway.*retrying/.test(l)).length, 1);
    assert.match(io.stderr.at(-1)!, /SERVICE_UNAVAILABLE/);
  });

  test('--retry-for 0 gives up at the first 503', T, async () => {
    const gw = await stubGateway([{ status: 503, headers: { 'retry-after': '1' } }, { status: 202 }]);
    try {
      const io = capture();
      const code = await run(
        ['test.thing.created', '--payload', '{"name":"x"}', '--gateway', gw.url, '--retry-for', '0'],
        io,
      );
      assert.equal(code, 1);
      assert.equal(gw.bodies.length, 1);
      assert.match(io.stderr.join('\n'), /PUBLISH_NACKED/);
    } finally {
      await gw.close();
    }
  });
});
