import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../src/cli.js';
import { rid, waitFor } from './helpers.js';

test('candystore help and unknown commands', { timeout: 10_000 }, async () => {
  assert.equal(await main(['help']), 0);
  assert.equal(await main(['frobnicate']), 2);
  assert.equal(await main(['serve', 'extra']), 2);
});

test('candystore serve runs from the environment and stops cleanly on SIGTERM', {
  timeout: 90_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'candystore-cli-'));
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const saved = { ...process.env };
  Object.assign(process.env, {
    CANDYSTORE_DATA_DIR: dir,
    CANDYSTORE_PORT: String(port),
    CANDYSTORE_HOST: '127.0.0.1',
    BLOODBANK_EXCHANGE: `test.${rid()}.events`,
    CANDYSTORE_QUEUE: `test.${rid()}.candystore`,
    LOG_LEVEL: 'silent',
  });
  delete process.env.DATABASE_URL;
  delete process.env.AMQP_URL;
  try {
    const exit = main(['serve']);
    await waitFor(
      async () => {
        try {
          return (await fetch(`http://127.0.0.1:${port}/health`)).status === 200;
        } catch {
          return false;
        }
      },
      60_000,
      'the service to answer /health',
    );
    process.emit('SIGTERM');
    assert.equal(await exit, 0);
    await assert.rejects(fetch(`http://127.0.0.1:${port}/health`));
  } finally {
    process.env = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});
