import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { npmStart } from './npm-start.js';

// `npm start` on every interface with no tokens: refused before any part starts, with one line
// that names the part and what to set, and a non-zero exit; no stack trace.
describe('npm start -- --host 0.0.0.0 without tokens', { timeout: 180_000 }, () => {
  it('refuses with one clear line and exits non-zero', async () => {
    const { child, io, closed } = npmStart({ LOG_LEVEL: 'info' }, true, ['--host', '0.0.0.0']);
    try {
      const code = await closed;
      const out = io.out + io.err;
      assert.notEqual(code, 0, out);
      const lines = io.err.split('\n').filter((l) => l.startsWith('error CONFIG_INVALID'));
      assert.equal(lines.length, 1, out);
      assert.match(
        lines[0]!,
        /Candystore would listen on every interface \(0\.0\.0\.0\) with no tokens configured.*Set AUTH_TOKENS or AUTH_TOKENS_FILE.*listen on 127\.0\.0\.1 \(--host\).*ALLOW_UNAUTHENTICATED=true/,
      );
      assert.doesNotMatch(out, /\n\s+at /, 'no stack trace');
      // nothing was started, so nothing says it listens
      assert.doesNotMatch(out, /Server listening at/);
    } finally {
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
    }
  });
});
