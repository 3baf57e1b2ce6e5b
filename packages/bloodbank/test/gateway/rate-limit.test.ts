import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isAppError } from '@33god/core';
import { RateLimiter } from '../../src/auth/rate-limit.js';

const NOW = 1_000_000;

function limited(limiter: RateLimiter, key: string, now = NOW): boolean {
  try {
    limiter.take(key, now);
    return false;
  } catch (err) {
    if (isAppError(err) && err.code === 'RATE_LIMITED') return true;
    throw err;
  }
}

describe('rate limiter buckets', () => {
  test('a limited client stays limited while 200,000 other keys are sprayed past maxKeys', () => {
    const limiter = new RateLimiter({ limit: 2, windowMs: 60_000 }, { maxKeys: 1000 });
    assert.equal(limited(limiter, 'victim'), false);
    assert.equal(limited(limiter, 'victim'), false);
    assert.equal(limited(limiter, 'victim'), true);
    for (let i = 0; i < 200_000; i++) {
      limiter.take(`2001:db8::${i.toString(16)}`, NOW);
      // the limited client keeps trying, as a client competing with the spray does
      if (i % 500 === 0) assert.equal(limited(limiter, 'victim'), true, `after ${i} sprayed keys`);
      assert.ok(limiter.size <= 1000);
    }
    assert.equal(limited(limiter, 'victim'), true);
    assert.equal(limiter.size, 1000);
  });

  test('evicts the least recently used bucket, not the oldest created', () => {
    const limiter = new RateLimiter({ limit: 1, windowMs: 60_000 }, { maxKeys: 3 });
    for (const k of ['a', 'b', 'c']) limiter.take(k, NOW);
    // a is used again (and refused): b is now the least recently used
    assert.equal(limited(limiter, 'a'), true);
    limiter.take('d', NOW);
    assert.equal(limiter.size, 3);
    // b lost its empty bucket and starts afresh; a, c and d kept theirs
    assert.equal(limited(limiter, 'b'), false);
    assert.equal(limited(limiter, 'a'), true);
    assert.equal(limited(limiter, 'd'), true);
    // b's new bucket pushed out c, the least recently used then
    assert.equal(limited(limiter, 'c'), false);
  });

  test('refills over the window and says when to retry', () => {
    const limiter = new RateLimiter({ limit: 2, windowMs: 1000 });
    limiter.take('k', NOW);
    limiter.take('k', NOW);
    assert.throws(
      () => limiter.take('k', NOW),
      (err: unknown) => isAppError(err) && err.code === 'RATE_LIMITED' && err.extra.retry_after === 1,
    );
    assert.equal(limited(limiter, 'k', NOW + 500), false);
  });

  test('refuses a maxKeys that is not a positive integer', () => {
    assert.throws(() => new RateLimiter({ limit: 1, windowMs: 1000 }, { maxKeys: 0 }), /maxKeys/);
  });
});
