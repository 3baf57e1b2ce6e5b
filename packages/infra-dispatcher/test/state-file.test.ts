import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isAppError } from '@33god/core';
import { DispatchStateStore, parseStateFile, writeFileAtomic } from '@33god/infra-dispatcher';

const dir = mkdtempSync(join(tmpdir(), 'infra-state-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const record = (fingerprint: string) => ({
  fingerprint,
  dispatched_at: new Date().toISOString(),
  ticket: 'INFRA-1',
  session_key: 'hook:infra:i-1',
  announced: false,
});

describe('dispatch state file', { timeout: 60_000 }, () => {
  it('starts empty when the file does not exist, and survives a reopen', async () => {
    const path = join(dir, 'nested', 'state.json');
    const s1 = await DispatchStateStore.open(path);
    assert.equal(s1.find('i-1', 'fp-a'), undefined);
    await s1.record('i-1', record('fp-a'));
    await s1.markAnnounced('i-1', 'fp-a');
    const s2 = await DispatchStateStore.open(path);
    assert.equal(s2.find('i-1', 'fp-a')?.announced, true);
    assert.equal(s2.find('i-1', 'fp-b'), undefined);
    assert.deepEqual(parseStateFile(readFileSync(path, 'utf8')).issues['i-1']?.length, 1);
  });

  it('keeps concurrent records of different issues', async () => {
    const path = join(dir, 'concurrent.json');
    const s = await DispatchStateStore.open(path);
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.record(`i-${i}`, record(`fp-${i}`))));
    const reopened = await DispatchStateStore.open(path);
    assert.equal(reopened.issueCount, 20);
  });

  it('refuses a malformed file instead of forgetting what was dispatched', async () => {
    const path = join(dir, 'corrupt.json');
    writeFileSync(path, '{"version":1,"issues":{"i-1":[{"fingerp');
    await assert.rejects(
      DispatchStateStore.open(path),
      (err) => isAppError(err) && err.code === 'DISPATCH_STATE_INVALID',
    );
    writeFileSync(path, '{"something":"else"}');
    await assert.rejects(
      DispatchStateStore.open(path),
      (err) => isAppError(err) && err.code === 'DISPATCH_STATE_INVALID',
    );
  });

  it('removes temporary files a crashed writer left behind', async () => {
    const path = join(dir, 'stale.json');
    writeFileSync(join(dir, '.stale.json.123.abcdef.tmp'), '{"half');
    await DispatchStateStore.open(path);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.startsWith('.stale.json')),
      [],
    );
  });

  it('reports whether the file can be written, and keeps a record in memory when the write fails', async () => {
    const s = await DispatchStateStore.open(join(dir, 'not-yet', 'deeper', 'state.json'));
    assert.equal(await s.writable(), true);
    const s2 = await DispatchStateStore.open(join(dir, 'becomes-a-file', 'state.json'));
    assert.equal(await s2.writable(), true);
    // The directory the file should live in is now a regular file: nothing can be written there.
    writeFileSync(join(dir, 'becomes-a-file'), 'x');
    assert.equal(await s2.writable(), false);
    await assert.rejects(
      s2.record('i', record('fp')),
      (err) => isAppError(err) && err.code === 'DISPATCH_STATE_INVALID',
    );
    assert.equal(s2.unsaved, true);
    assert.ok(s2.find('i', 'fp'), 'the record stays in memory when the write fails');
    assert.match(s2.lastError?.message ?? '', /ENOTDIR|EEXIST|not a directory/i);
  });

  it('a writer killed in the middle of a write leaves the previous complete file', async () => {
    const path = join(dir, 'crash.json');
    const initial = JSON.stringify({ generation: 0, filler: 'x'.repeat(1000) });
    await writeFileAtomic(path, initial);
    const writer = fileURLToPath(new URL('./helpers/atomic-writer.ts', import.meta.url));
    let sawNewer = false;
    for (let round = 0; round < 12; round++) {
      const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', writer, path], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      // Wait until the child is inside its write loop, then kill it at a random point.
      await once(child.stdout!, 'data');
      await new Promise((r) => setTimeout(r, 20 + Math.floor(Math.random() * 80)));
      child.kill('SIGKILL');
      await once(child, 'exit');
      const text = readFileSync(path, 'utf8');
      let parsed = { generation: -1, filler: '' };
      assert.doesNotThrow(() => {
        parsed = JSON.parse(text);
      }, `round ${round}: the file is torn (${text.length} characters)`);
      assert.equal(typeof parsed.generation, 'number');
      if (parsed.generation > 0) {
        sawNewer = true;
        assert.equal(parsed.filler.length, 4 * 1024 * 1024, 'a newer generation is complete');
      }
    }
    assert.ok(sawNewer, 'the writer completed at least one write during the rounds');
  });
});
