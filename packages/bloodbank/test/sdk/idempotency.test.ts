import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { completeEnvelope } from '@33god/core';
import { RetryableError } from '../../src/middleware/errors.js';
import { idempotent, MemoryIdempotencyStore } from '../../src/sdk/idempotency.js';

const event = () => completeEnvelope({ event_type: 'test.thing.done', payload: {} }, { app: 't' });

describe('idempotency helper', { timeout: 5000 }, () => {
  test('runs once per event id', async () => {
    const store = new MemoryIdempotencyStore();
    let runs = 0;
    const h = idempotent(store, async () => {
      runs++;
    });
    const e = event();
    await h(e);
    await h(e);
    await h({ ...e });
    assert.equal(runs, 1);
    await h(event());
    assert.equal(runs, 2);
  });

  test('a failed run can be retried', async () => {
    const store = new MemoryIdempotencyStore();
    let runs = 0;
    const h = idempotent(store, async () => {
      runs++;
      if (runs === 1) throw new Error('first fails');
    });
    const e = event();
    await assert.rejects(h(e), /first fails/);
    await h(e);
    await h(e);
    assert.equal(runs, 2);
  });

  test('a concurrent copy is told to retry later', async () => {
    const store = new MemoryIdempotencyStore();
    let release!: () => void;
    const h = idempotent(store, () => new Promise<void>((r) => (release = r)));
    const e = event();
    const first = h(e);
    await assert.rejects(h(e), RetryableError);
    release();
    await first;
  });

  test('the memory store forgets the least recently used keys beyond its size', async () => {
    const store = new MemoryIdempotencyStore({ max: 2 });
    for (const k of ['a', 'b']) {
      assert.equal(await store.claim(k), 'claimed');
      await store.complete(k);
    }
    assert.equal(await store.claim('a'), 'done');
    assert.equal(await store.claim('c'), 'claimed');
    await store.complete('c');
    assert.equal(store.size, 2);
    assert.equal(await store.claim('b'), 'claimed', 'b was the least recently used');
    assert.equal(await store.claim('a'), 'done');
  });
});
