import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { npmStart, untilUp } from '../../packages/all-in-one/test/npm-start.js';

// `npm start` whose store takes nothing (CANDYSTORE_INGEST_PAUSED): publishing until the
// embedded broker refuses must end in 503 with Retry-After, never in a process that grows
// until it dies. With the default bounds (64 MiB of bodies a queue) and 16 KiB events the
// refusal comes within seconds; the stack's resident memory then stays under the all-in-one
// budget.
const BUDGET_MB = 400;
const QUEUE_BYTES = 64 * 1024 * 1024; // BLOODBANK_EMBEDDED_MAX_QUEUE_BYTES's default

const dataDir = mkdtempSync(join(tmpdir(), 'memory-test-'));
let run: ReturnType<typeof npmStart> | undefined;
after(() => {
  if (run) {
    try {
      process.kill(-run.child.pid!, 'SIGKILL');
    } catch {} // already gone
  }
  rmSync(dataDir, { recursive: true, force: true });
});

/** The resident memory of the stack's process (the `33god up` node in the group), in MB. */
function stackRssMb(groupId: number): number {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (pgid !== groupId) continue;
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('33god.mjs')) continue;
      const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      return Number(kb) / 1024;
    } catch {} // gone meanwhile
  }
  throw new Error('the stack process was not found');
}

describe('npm start with its store paused', { timeout: 600_000 }, () => {
  it('refuses publishes with 503 and Retry-After at the queue bound, within the memory budget', async () => {
    run = npmStart(
      {
        LOG_LEVEL: 'warn',
        STACK_DATA_DIR: dataDir,
        BLOODBANK_PORT: '0',
        CANDYSTORE_PORT: '0',
        CANDYBAR_PORT: '0',
        CANDYSTORE_INGEST_PAUSED: 'true',
      },
      true,
    );
    await untilUp(run);
    const gateway = /gateway \(Bloodbank\)\s+(http:\/\/\S+)/.exec(run.io.out)![1]!;
    const payload = { message: 'x'.repeat(16 * 1024) };
    let accepted = 0;
    let peakMb = 0;
    interface Refusal {
      status: number;
      retryAfter: string | null;
      body: { code?: string; detail?: string };
    }
    const seen: { refusal: Refusal | null } = { refusal: null };
    const client = async () => {
      while (!seen.refusal) {
        const res = await fetch(`${gateway}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ event_type: 'test.event.created', payload }),
        });
        const body = (await res.json()) as { code?: string; detail?: string };
        if (res.status === 202) {
          accepted++;
          if (accepted % 500 === 0) peakMb = Math.max(peakMb, stackRssMb(run!.child.pid!));
        } else {
          seen.refusal ??= { status: res.status, retryAfter: res.headers.get('retry-after'), body };
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, client));
    peakMb = Math.max(peakMb, stackRssMb(run.child.pid!));
    const r = seen.refusal;
    assert.ok(r, 'a refusal');
    assert.equal(r.status, 503, JSON.stringify(r));
    assert.equal(r.body.code, 'PUBLISH_NACKED', JSON.stringify(r.body));
    assert.match(r.body.detail ?? '', /candystore\.events.*full/, 'the refusal names the full queue');
    assert.ok(Number(r.retryAfter) >= 1, `Retry-After: ${r.retryAfter}`);
    // The bound held: what was accepted fits it (bodies are a little over 16 KiB each).
    assert.ok(accepted * 16 * 1024 <= QUEUE_BYTES, `${accepted} accepted`);
    assert.ok(
      accepted * 17 * 1024 >= QUEUE_BYTES * 0.9,
      `the refusal came at the bound, not before: ${accepted}`,
    );
    assert.ok(peakMb <= BUDGET_MB, `peak RSS ${peakMb.toFixed(0)} MB, budget ${BUDGET_MB} MB`);
    console.log(
      `accepted ${accepted} events (${((accepted * 16) / 1024).toFixed(0)} MiB of payload) before the refusal; stack RSS peak ${peakMb.toFixed(0)} MB`,
    );
  });
});
