import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { waitFor } from '../../src/testkit/index.js';
import { createEmbeddedTransport, openEmbeddedBroker } from '../../src/transport/index.js';

// The durable embedded broker against a real crash: a child process publishing, acking,
// dead-lettering and holding deliveries is killed with SIGKILL, three times in a row on the
// same journal; each time, everything it was told was confirmed is still there.
const dir = mkdtempSync(join(tmpdir(), 'bloodbank-crash-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Log {
  confirmed: Set<number>;
  acked: Set<number>;
  dead: Set<number>;
  held: Set<number>;
}

async function runUntilKilled(minConfirmed: number): Promise<Log> {
  const child = spawn(
    process.execPath,
    [...process.execArgv, join(import.meta.dirname, 'fixtures', 'durable-child.ts'), dir],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const log: Log = { confirmed: new Set(), acked: new Set(), dead: new Set(), held: new Set() };
  let rest = '';
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  child.stdout.on('data', (chunk: Buffer) => {
    const lines = (rest + chunk.toString()).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      const [kind, id] = line.split(' ');
      const n = Number(id);
      if (kind === 'C') log.confirmed.add(n);
      else if (kind === 'A') log.acked.add(n);
      else if (kind === 'D') log.dead.add(n);
      else if (kind === 'H') log.held.add(n);
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitFor(() => log.confirmed.size >= minConfirmed || child.exitCode !== null, 'confirms', 60_000);
    assert.equal(child.exitCode, null, `the child died on its own: ${stderr}`);
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  return log;
}

describe('durable embedded broker: SIGKILL', () => {
  it('keeps every confirmed message, every held delivery (marked redelivered) and every dead letter, three kills in a row', {
    timeout: 240_000,
  }, async () => {
    const everConfirmed = new Set<number>();
    const everAcked = new Set<number>();
    for (let round = 0; round < 3; round++) {
      const log = await runUntilKilled(1_500);
      for (const id of log.confirmed) everConfirmed.add(id);
      for (const id of log.acked) everAcked.add(id);

      const broker = await openEmbeddedBroker({ storage: 'durable', dataDir: dir });
      const t = createEmbeddedTransport({ broker });
      try {
        const where = new Map<number, string[]>();
        for (const queue of ['work', 'work.dlq', 'work.retry']) {
          await t.browse(queue, 10_000_000, (d) => {
            const id = Number(d.body.toString());
            const list = where.get(id) ?? [];
            list.push(queue);
            where.set(id, list);
            return true;
          });
        }
        const missing = [...everConfirmed].filter((id) => !everAcked.has(id) && !where.has(id));
        assert.deepEqual(
          missing.slice(0, 10),
          [],
          `${missing.length} confirmed, never acked messages lost after kill ${round + 1}`,
        );
        const heldGone = [...log.held].filter((id) => !where.get(id)?.includes('work'));
        assert.deepEqual(heldGone, [], 'held deliveries are back in their queue');
        const deadGone = [...log.dead].filter((id) => !where.has(id));
        assert.deepEqual(deadGone, [], 'dead letters are kept (in the dead-letter queue, or still in work)');
        assert.ok(
          log.dead.size > 0 && log.held.size > 0,
          `the child dead-lettered and held some (kill ${round + 1}: ${log.confirmed.size} confirmed, ${log.acked.size} acked, ${log.dead.size} dead, ${log.held.size} held)`,
        );
      } finally {
        await t.close({ drainTimeoutMs: 0 });
        await broker.close();
      }
    }
  });

  it('a held delivery comes back marked redelivered, a never-delivered one does not', {
    timeout: 120_000,
  }, async () => {
    const own = mkdtempSync(join(tmpdir(), 'bloodbank-crash-flag-'));
    try {
      const child = spawn(
        process.execPath,
        [
          ...process.execArgv,
          '--input-type=module',
          '-e',
          `import { createEmbeddedTransport, openEmbeddedBroker } from ${JSON.stringify(join(import.meta.dirname, '..', '..', 'src', 'transport', 'index.ts'))};
           const broker = await openEmbeddedBroker({ storage: 'durable', dataDir: ${JSON.stringify(own)} });
           const t = createEmbeddedTransport({ broker });
           await t.assertQueue('q', { durable: true });
           for (const b of ['held', 'waiting']) await t.publish({ exchange: '', routingKey: 'q', body: Buffer.from(b), properties: { persistent: true } });
           await t.consume('q', (d) => { process.stdout.write('GOT ' + d.body + '\\n'); }, { prefetch: 1 });`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let seen = '';
      child.stdout.on('data', (c: Buffer) => {
        seen += c.toString();
      });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      await waitFor(() => seen.includes('GOT held'), 'the first delivery', 60_000);
      child.kill('SIGKILL');
      await exited;
      const broker = await openEmbeddedBroker({ storage: 'durable', dataDir: own });
      const t = createEmbeddedTransport({ broker });
      const got: { body: string; redelivered: boolean }[] = [];
      await t.consume('q', (d) => {
        got.push({ body: d.body.toString(), redelivered: d.redelivered });
        d.ack();
      });
      await waitFor(() => got.length === 2, 'both messages');
      assert.deepEqual(got, [
        { body: 'held', redelivered: true },
        { body: 'waiting', redelivered: false },
      ]);
      await t.close();
      await broker.close();
    } finally {
      rmSync(own, { recursive: true, force: true });
    }
  });
});
