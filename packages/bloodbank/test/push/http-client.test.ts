// The push client against a real local endpoint: bounded reads, no redirects, timeouts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HttpTimeoutError, PushHttpClient } from '../../src/push/http-client.js';
import { startReceiver } from './receiver.js';

test('a huge answer is read only up to the cap, and 1 KiB of it kept', async () => {
  const receiver = await startReceiver(() => ({ status: 500, body: 'y'.repeat(2_000_000) }));
  const client = new PushHttpClient(new URL(receiver.url), { maxSockets: 2, timeoutMs: 5000 });
  try {
    const answer = await client.post({ 'content-type': 'application/json' }, Buffer.from('{}'));
    assert.equal(answer.status, 500);
    assert.equal(answer.body.length, 1024);
  } finally {
    client.close();
    await receiver.close();
  }
});

test('a redirect is an answer, never followed', async () => {
  const receiver = await startReceiver(() => ({
    status: 307,
    headers: { location: 'http://169.254.169.254/' },
  }));
  const client = new PushHttpClient(new URL(receiver.url), { maxSockets: 2, timeoutMs: 5000 });
  try {
    const answer = await client.post({}, Buffer.from('{}'));
    assert.equal(answer.status, 307);
    assert.equal(receiver.received.length, 1);
  } finally {
    client.close();
    await receiver.close();
  }
});

test('no answer in time rejects with HttpTimeoutError; nothing listening rejects with the code', async () => {
  const receiver = await startReceiver(() => ({ status: 204, delayMs: 10_000 }));
  const client = new PushHttpClient(new URL(receiver.url), { maxSockets: 2, timeoutMs: 150 });
  try {
    await assert.rejects(client.post({}, Buffer.from('{}')), HttpTimeoutError);
  } finally {
    client.close();
    await receiver.close();
  }
  const gone = new PushHttpClient(new URL(receiver.url), { maxSockets: 1, timeoutMs: 2000 });
  await assert.rejects(
    gone.post({}, Buffer.from('{}')),
    (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED',
  );
  gone.close();
});
