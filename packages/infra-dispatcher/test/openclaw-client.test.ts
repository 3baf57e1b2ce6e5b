import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { isAppError } from '@33god/core';
import { createOpenClawClient, type OpenClawAgentRequest } from '@33god/infra-dispatcher';
import { type FakeOpenClaw, startOpenClaw } from './helpers/openclaw-server.js';

const request: OpenClawAgentRequest = {
  message: 'Ticket: INFRA-1',
  name: 'TeamInfraDispatch',
  sessionKey: 'hook:infra:i-1',
  wakeMode: 'now',
  deliver: false,
  timeoutSeconds: 180,
};
const fast = { initialDelayMs: 10, maxDelayMs: 50, maxTotalMs: 5_000, requestTimeoutMs: 2_000 };

/** A port with nothing listening: bind, note the port, close. */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('OpenClaw client', { timeout: 30_000 }, () => {
  let oc: FakeOpenClaw;
  before(async () => {
    oc = await startOpenClaw();
  });
  after(() => oc.close());

  it('posts the request as JSON with the bearer token', async () => {
    oc.requests.length = 0;
    const client = createOpenClawClient({ url: oc.url, token: 's3cret', retry: fast });
    const receipt = await client.dispatch(request);
    assert.equal(receipt.status, 200);
    assert.equal(receipt.attempts, 1);
    assert.equal(receipt.uncertain, false);
    assert.equal(oc.requests.length, 1);
    const [r] = oc.requests;
    assert.equal(r?.method, 'POST');
    assert.equal(r?.url, '/hooks/agent');
    assert.equal(r?.headers.authorization, 'Bearer s3cret');
    assert.match(String(r?.headers['content-type']), /application\/json/);
    assert.deepEqual(r?.json, request);
  });

  it('retries 503 and succeeds on the next answer', async () => {
    oc.requests.length = 0;
    oc.answers = [503, 502];
    const client = createOpenClawClient({ url: oc.url, token: 't', retry: fast });
    const receipt = await client.dispatch(request);
    assert.equal(receipt.attempts, 3);
    assert.equal(receipt.uncertain, false, 'every attempt was answered: OpenClaw has it once');
    assert.deepEqual(
      oc.requests.map((r) => r.status),
      [503, 502, 200],
    );
  });

  it('after an attempt that timed out, a retry that succeeds says OpenClaw may have the ticket twice', async () => {
    oc.requests.length = 0;
    oc.delayMs = 1_000;
    const client = createOpenClawClient({
      url: oc.url,
      token: 't',
      retry: { ...fast, requestTimeoutMs: 200 },
    });
    const dispatched = client.dispatch(request);
    await oc.waitForRequests(1);
    oc.delayMs = 0;
    const receipt = await dispatched;
    assert.equal(receipt.attempts, 2);
    assert.equal(receipt.uncertain, true);
    assert.equal(oc.requests.length, 2, 'OpenClaw did receive both requests');
  });

  it('does not retry a 400 and says what OpenClaw answered', async () => {
    oc.requests.length = 0;
    oc.answers = [400];
    const client = createOpenClawClient({ url: oc.url, token: 't', retry: fast });
    await assert.rejects(client.dispatch(request), (err) => {
      assert.ok(isAppError(err));
      assert.equal(err.code, 'DISPATCH_REJECTED');
      assert.equal(err.retryable, false);
      assert.equal(err.extra.status, 400);
      assert.match(err.message, /OpenClaw answered 400/);
      return true;
    });
    assert.equal(oc.requests.length, 1);
  });

  it('gives up after the attempts allowed, as a retryable failure', async () => {
    oc.requests.length = 0;
    oc.answers = [500, 500, 500, 500];
    const client = createOpenClawClient({ url: oc.url, token: 't', retry: { ...fast, maxAttempts: 3 } });
    await assert.rejects(client.dispatch(request), (err) => {
      assert.ok(isAppError(err));
      assert.equal(err.code, 'DISPATCH_FAILED');
      assert.equal(err.retryable, true);
      assert.equal(err.extra.attempts, 3);
      return true;
    });
    assert.equal(oc.requests.length, 3);
    oc.answers = [];
  });

  it('retries network errors and bounds the total time', async () => {
    const port = await deadPort();
    const client = createOpenClawClient({
      url: `http://127.0.0.1:${port}/hooks/agent`,
      token: 't',
      retry: {
        maxAttempts: 100,
        initialDelayMs: 50,
        maxDelayMs: 100,
        maxTotalMs: 600,
        requestTimeoutMs: 500,
      },
    });
    const started = Date.now();
    await assert.rejects(client.dispatch(request), (err) => {
      assert.ok(isAppError(err));
      assert.equal(err.code, 'DISPATCH_FAILED');
      assert.match(err.message, /ECONNREFUSED/);
      assert.equal(err.extra.uncertain, false, 'a refused connection never carried the request');
      assert.ok(Number(err.extra.attempts) > 1, 'it retried');
      assert.ok(Number(err.extra.attempts) < 100, 'the time bound stopped it before the attempt bound');
      return true;
    });
    assert.ok(Date.now() - started < 3_000);
  });
});
