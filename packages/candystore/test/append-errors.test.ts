// Which append failures dead-letter an event and which hold the batch: by SQLSTATE class,
// for hand-made errors and for the errors PGlite really throws.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { jittered, nextRetryDelay, RETRY_FIRST_MS } from '../src/ingest/ingester.js';
import { classifyAppendError, isTransientDbError, sqlState } from '../src/storage/database.js';

const withCode = (code: string, message = `error ${code}`) => Object.assign(new Error(message), { code });

describe('append errors: isolate or retry', { timeout: 30_000 }, () => {
  const cases: [string, string, 'isolate' | 'retry'][] = [
    ['22P02', 'invalid text representation', 'isolate'],
    ['22001', 'string data right truncation', 'isolate'],
    ['22P05', 'untranslatable character', 'isolate'],
    ['23505', 'unique violation', 'isolate'],
    ['23514', 'check violation', 'isolate'],
    ['54000', 'program limit exceeded (a row too large)', 'isolate'],
    ['08006', 'connection failure', 'retry'],
    ['08001', 'cannot connect now', 'retry'],
    ['53100', 'disk full', 'retry'],
    ['53200', 'out of memory', 'retry'],
    ['53300', 'too many connections', 'retry'],
    ['57P01', 'admin shutdown', 'retry'],
    ['57014', 'query canceled', 'retry'],
    ['58030', 'I/O error', 'retry'],
    ['58P01', 'undefined file', 'retry'],
    ['25006', 'read-only transaction (after a failover)', 'retry'],
    ['40001', 'serialization failure', 'retry'],
    ['40P01', 'deadlock', 'retry'],
    ['55P03', 'lock not available', 'retry'],
    ['42883', 'undefined function (a schema not migrated): not one event', 'retry'],
    ['XX000', 'internal error', 'retry'],
  ];
  for (const [code, what, expected] of cases) {
    test(`${code} ${what} → ${expected}`, () => {
      assert.equal(classifyAppendError(withCode(code)), expected);
    });
  }

  test('errors without SQLSTATE are retried: PGlite closed, a lost socket, anything unknown', () => {
    assert.equal(classifyAppendError(new Error('PGlite is closed')), 'retry');
    assert.equal(classifyAppendError(new Error('Connection terminated unexpectedly')), 'retry');
    assert.equal(classifyAppendError(withCode('ECONNRESET')), 'retry');
    assert.equal(classifyAppendError(withCode('ENOSPC')), 'retry');
    assert.equal(classifyAppendError(new TypeError('x is undefined')), 'retry');
    assert.equal(classifyAppendError('not even an Error'), 'retry');
    assert.equal(classifyAppendError(undefined), 'retry');
  });

  test("a cause's SQLSTATE counts", () => {
    const wrapped = new Error('append failed', { cause: withCode('23505') });
    assert.equal(sqlState(wrapped), '23505');
    assert.equal(classifyAppendError(wrapped), 'isolate');
    assert.equal(classifyAppendError(new Error('append failed', { cause: withCode('53100') })), 'retry');
  });

  test('the outage classes are transient for the HTTP API and replays too', () => {
    for (const code of ['53100', '53200', '58030', '25006', '57P01', '08006', '40001', '40P01'])
      assert.equal(isTransientDbError(withCode(code)), true, code);
    for (const code of ['22P02', '23505', '42883'])
      assert.equal(isTransientDbError(withCode(code)), false, code);
  });

  test("PGlite's own errors carry the SQLSTATE, so its per-event errors are isolated", async () => {
    const db = new PGlite();
    try {
      await db.exec('CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)');
      const failure = (p: Promise<unknown>) =>
        p.then(
          () => assert.fail('expected an error'),
          (err: unknown) => err,
        );
      const bad = await failure(db.query("SELECT 'x'::int"));
      assert.equal(sqlState(bad), '22P02');
      assert.equal(classifyAppendError(bad), 'isolate');
      const dup = await failure(db.query('INSERT INTO t VALUES (1)'));
      assert.equal(sqlState(dup), '23505');
      assert.equal(classifyAppendError(dup), 'isolate');
      await db.exec('SET default_transaction_read_only = on');
      const readOnly = await failure(db.query('INSERT INTO t VALUES (2)'));
      assert.equal(sqlState(readOnly), '25006');
      assert.equal(classifyAppendError(readOnly), 'retry');
      await db.close();
      const closed = await failure(db.query('SELECT 1'));
      assert.equal(sqlState(closed), null);
      assert.equal(classifyAppendError(closed), 'retry');
    } finally {
      if (!db.closed) await db.close();
    }
  });

  test('the backoff: jittered between half and all of the delay, capped', () => {
    assert.equal(
      jittered(1000, () => 0),
      500,
    );
    assert.equal(
      jittered(1000, () => 1),
      1000,
    );
    const delays = [RETRY_FIRST_MS];
    for (let i = 0; i < 8; i++) delays.push(nextRetryDelay(delays.at(-1)!));
    assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
  });
});
