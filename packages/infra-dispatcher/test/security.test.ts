import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isAppError } from '@33god/core';
import {
  BASE_CHECK_ENV,
  type CheckOutcome,
  type CliIo,
  configFromEnv,
  DispatchStateStore,
  evaluateGate,
  main,
  parseChecks,
  readPlaneWorkItem,
  resolveDispatcherConfig,
  runCheck,
  runComponentCheck,
} from '@33god/infra-dispatcher';
import { planeV1Issue } from './helpers/plane-payloads.js';

/**
 * Issue 21, secure by default: a component check (code agents edit, whose output goes
 * into the next agent's prompt) never sees the dispatcher's secrets, and names taken
 * from a ticket (component, issue id, action) are looked up as data, never as members
 * of `Object.prototype`.
 */

const dir = mkdtempSync(join(tmpdir(), 'infra-security-'));

// The dispatcher's own environment while these tests run, as `serve` would have it.
const SECRETS = {
  OPENCLAW_HOOK_TOKEN: 'oc-hook-token-7f3a91c2d4e5',
  PLANE_WEBHOOK_SECRET: 'plane-whsec-55aa66bb77cc',
  GITHUB_WEBHOOK_SECRET: 'github-whsec-0d9e8f7a6b5c',
  AMQP_URL: 'amqp://dispatcher:brokerPassw0rd42@rabbit.internal:5672',
  DATABASE_URL: 'postgres://app:dbPassw0rd99@db.internal:5432/events',
  BLOODBANK_AUTH_TOKENS: 'gatewayTokenAAAA1111=infra-dispatcher,gatewayTokenBBBB2222=candybar',
} as const;
const OTHER = {
  CHECK_CACHE_DIR: '/var/cache/checks',
  NOT_PASSED_ON: 'unlisted-value-31337',
};
const saved = new Map<string, string | undefined>();

before(() => {
  for (const [name, value] of Object.entries({ ...SECRETS, ...OTHER })) {
    saved.set(name, process.env[name]);
    process.env[name] = value;
  }
});
after(() => {
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  rmSync(dir, { recursive: true, force: true });
});

const PRINT_ENV = `node -e 'console.log(JSON.stringify(process.env))'`;

function tailOf(outcome: CheckOutcome): string {
  assert.ok('output_tail' in outcome, `the check did not run: ${outcome.reason}`);
  return outcome.output_tail;
}

function assertNoSecret(text: string): void {
  for (const [name, value] of Object.entries(SECRETS)) {
    assert.ok(!text.includes(value), `${name}'s value leaked into:\n${text}`);
  }
  for (const part of ['brokerPassw0rd42', 'dbPassw0rd99', 'gatewayTokenAAAA1111', 'gatewayTokenBBBB2222']) {
    assert.ok(!text.includes(part), `'${part}' leaked into:\n${text}`);
  }
}

function rejectsConfig(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err) => {
    assert.ok(isAppError(err), String(err));
    assert.equal(err.code, 'CONFIG_INVALID');
    assert.match(err.message, pattern);
    return true;
  });
}

describe("a check's environment", { timeout: 30_000 }, () => {
  it('holds the base variables and what its component passes on, never the dispatcher secrets', async () => {
    const cfg = resolveDispatcherConfig({
      hookToken: SECRETS.OPENCLAW_HOOK_TOKEN,
      checksRoot: dir,
      checks: {
        bloodbank: {
          command: PRINT_ENV,
          cwd: '.',
          passEnv: ['CHECK_CACHE_DIR', 'NOT_SET_ANYWHERE'],
          env: { CI: '1' },
        },
      },
    });
    const out = await runComponentCheck(cfg, 'bloodbank');
    assert.equal(out.status, 'passed');
    const tail = tailOf(out);
    const seen = JSON.parse(tail) as Record<string, string>;
    assert.equal(seen.CHECK_CACHE_DIR, OTHER.CHECK_CACHE_DIR, 'a passEnv variable is passed on');
    assert.equal(seen.CI, '1', 'a value from the config is set');
    assert.equal(seen.PATH, process.env.PATH);
    assert.equal(seen.HOME, process.env.HOME);
    assert.ok(!('NOT_SET_ANYWHERE' in seen), 'a passEnv name the dispatcher lacks is left out');
    assert.ok(!('NOT_PASSED_ON' in seen), 'a variable nobody named is not passed on');
    for (const name of Object.keys(SECRETS)) assert.ok(!(name in seen), `${name} reached the check`);
    assertNoSecret(tail);
    // What a check sees is the allowlist and what the shell adds itself (PWD, SHLVL, _).
    const allowed = new Set([...BASE_CHECK_ENV, 'CHECK_CACHE_DIR', 'CI', 'PWD', 'OLDPWD', 'SHLVL', '_']);
    assert.deepEqual(
      Object.keys(seen).filter((n) => !allowed.has(n)),
      [],
    );
  });

  it('is the same for runCheck used on its own: `env` shows no secret', async () => {
    const out = await runCheck({ component: 'c', command: 'env', cwd: dir, timeoutMs: 10_000 });
    assert.equal(out.status, 'passed');
    assert.match(out.output_tail, /^PATH=/m);
    assert.doesNotMatch(
      out.output_tail,
      /OPENCLAW_HOOK_TOKEN|WEBHOOK_SECRET|AMQP_URL|DATABASE_URL|AUTH_TOKENS/,
    );
    assert.doesNotMatch(out.output_tail, /NOT_PASSED_ON/);
    assertNoSecret(out.output_tail);
  });

  it('redacts the secrets from output a check got some other way', async () => {
    const leaked = join(dir, 'leaked.txt');
    writeFileSync(
      leaked,
      [
        `token: ${SECRETS.OPENCLAW_HOOK_TOKEN}`,
        `plane: ${SECRETS.PLANE_WEBHOOK_SECRET}`,
        `broker: ${SECRETS.AMQP_URL}`,
        'password alone: dbPassw0rd99',
        'one gateway token: gatewayTokenBBBB2222',
        'an ordinary line',
        '',
      ].join('\n'),
    );
    const cfg = resolveDispatcherConfig({
      checksRoot: dir,
      checks: { bloodbank: { command: `cat ${leaked}; exit 1`, cwd: '.' } },
    });
    const tail = tailOf(await runComponentCheck(cfg, 'bloodbank'));
    assertNoSecret(tail);
    assert.match(tail, /token: \[redacted OPENCLAW_HOOK_TOKEN\]/);
    assert.match(tail, /plane: \[redacted PLANE_WEBHOOK_SECRET\]/);
    assert.match(tail, /broker: \[redacted AMQP_URL\]/);
    assert.match(tail, /password alone: \[redacted DATABASE_URL\]/);
    assert.match(tail, /one gateway token: \[redacted BLOODBANK_AUTH_TOKENS\]/);
    assert.match(tail, /an ordinary line/);
  });

  it('redacts the hook token given in the config, not only the one in the environment', async () => {
    const configured = 'configured-hook-token-4242abcd';
    const cfg = resolveDispatcherConfig({
      hookToken: configured,
      checksRoot: dir,
      checks: { bloodbank: { command: `echo "got ${configured}"`, cwd: '.' } },
    });
    assert.equal(tailOf(await runComponentCheck(cfg, 'bloodbank')), 'got [redacted OPENCLAW_HOOK_TOKEN]\n');
  });

  it('leaves no part of a secret that the tail cuts in two', async () => {
    const token = SECRETS.OPENCLAW_HOOK_TOKEN;
    const after = 'B'.repeat(58);
    // The last 64 bytes start with the token's last 5 characters.
    const out = await runCheck({
      component: 'c',
      command: `printf '%s' "${'A'.repeat(2000)}" "${token}" "${after}"`,
      cwd: dir,
      timeoutMs: 10_000,
      tailBytes: after.length + 6,
    });
    assert.equal(out.status, 'passed');
    assert.ok(Buffer.byteLength(out.output_tail) <= after.length + 6);
    assert.ok(out.output_tail.endsWith(after));
    for (let n = 3; n <= token.length; n++) {
      assert.ok(!out.output_tail.includes(token.slice(-n)), `the token's last ${n} characters remain`);
    }
  });
});

describe('passEnv in the checks config', { timeout: 30_000 }, () => {
  const spec = (passEnv: unknown) => ({ command: 'true', cwd: '.', passEnv });

  it("refuses at start a component asking for one of the dispatcher's secrets, naming both", () => {
    for (const name of [
      'OPENCLAW_HOOK_TOKEN',
      'AMQP_URL',
      'DATABASE_URL',
      'PLANE_WEBHOOK_SECRET',
      'GITHUB_WEBHOOK_SECRET',
      'SOME_OTHER_WEBHOOK_SECRET',
      'AUTH_TOKENS',
      'AUTH_TOKENS_FILE',
      'BLOODBANK_AUTH_TOKENS',
      'openclaw_hook_token',
    ]) {
      rejectsConfig(
        () =>
          resolveDispatcherConfig({
            checks: { candybar: { command: 'true', cwd: '.', passEnv: ['CI', name] } },
          }),
        new RegExp(`component 'candybar'.*"passEnv" names ${name}, the dispatcher's own secret`),
      );
    }
  });

  it('refuses it from an INFRA_CHECKS_CONFIG file, and `serve` does not start', async () => {
    const file = join(dir, 'checks.json');
    writeFileSync(
      file,
      JSON.stringify({
        bloodbank: { command: 'npm test', cwd: '.', passEnv: ['CI'] },
        holyfields: { command: 'mise run test:all', cwd: '.', passEnv: ['OPENCLAW_HOOK_TOKEN'] },
      }),
    );
    rejectsConfig(
      () => configFromEnv({ INFRA_CHECKS_CONFIG: file }),
      /INFRA_CHECKS_CONFIG \(.*checks\.json\): component 'holyfields': "passEnv" names OPENCLAW_HOOK_TOKEN/,
    );
    const err: string[] = [];
    const io: CliIo = { out: () => {}, err: (l) => err.push(l) };
    const code = await main(
      ['serve'],
      {
        OPENCLAW_HOOK_TOKEN: 'tok',
        INFRA_CHECKS_CONFIG: file,
        INFRA_DISPATCH_STATE_PATH: join(dir, 's.json'),
      },
      io,
    );
    assert.equal(code, 1);
    assert.match(err.join('\n'), /component 'holyfields'.*OPENCLAW_HOOK_TOKEN/);
  });

  it('refuses names that are not variable names, and a list that is not one', () => {
    for (const bad of ['CI', ['A-B'], ['X=1'], [''], [42]]) {
      rejectsConfig(
        () => parseChecks({ pjangler: spec(bad) }, 'INFRA_CHECKS_CONFIG'),
        /component 'pjangler': "passEnv" must be a list of environment variable names/,
      );
    }
    rejectsConfig(
      () => parseChecks({ pjangler: { command: 'true', cwd: '.', env: { 'NOT-A-NAME': 'x' } } }),
      /component 'pjangler': "env" has 'NOT-A-NAME'/,
    );
    rejectsConfig(
      () => parseChecks({ Bloodbank: spec([]), bloodbank: spec([]) }),
      /component 'bloodbank' is configured twice/,
    );
  });

  it('accepts a value for a check set in the config itself, which is not the dispatcher secret', async () => {
    const cfg = resolveDispatcherConfig({
      checksRoot: dir,
      checks: { candystore: { command: 'echo "$DATABASE_URL"', cwd: '.', env: { DATABASE_URL: 'pglite' } } },
    });
    assert.equal(tailOf(await runComponentCheck(cfg, 'candystore')), 'pglite\n');
  });
});

describe('names from a ticket are data, not object members', { timeout: 30_000 }, () => {
  const PROTO_NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];

  it('a component named like an Object member has no check (built-in table and a config file)', async () => {
    const file = join(dir, 'proto-checks.json');
    writeFileSync(file, '{"bloodbank": {"command": "true", "cwd": "."}}');
    for (const cfg of [
      resolveDispatcherConfig({ checksRoot: dir }),
      resolveDispatcherConfig(configFromEnv({ INFRA_CHECKS_CONFIG: file })),
    ]) {
      for (const name of PROTO_NAMES) {
        const out = await runComponentCheck(cfg, name);
        assert.equal(out.status, 'not_configured', name);
        assert.equal(out.component, name);
      }
    }
  });

  it('a component really called __proto__ in the config is one, and pollutes nothing', async () => {
    const file = join(dir, 'proto-component.json');
    writeFileSync(file, '{"__proto__": {"command": "echo proto check", "cwd": "."}}');
    const cfg = configFromEnv({ INFRA_CHECKS_CONFIG: file });
    assert.ok(Object.hasOwn(cfg.checks, '__proto__'));
    assert.equal(Object.getPrototypeOf(cfg.checks), Object.prototype);
    assert.equal(({} as { command?: unknown }).command, undefined);
    assert.equal(tailOf(await runComponentCheck(cfg, '__proto__')), 'proto check\n');
    assert.equal((await runComponentCheck(cfg, 'constructor')).status, 'not_configured');
  });

  it('the state file keeps issues whose ids are Object member names, across a reopen', async () => {
    const path = join(dir, 'proto-state.json');
    const s1 = await DispatchStateStore.open(path);
    for (const id of PROTO_NAMES) {
      assert.equal(s1.find(id, 'fp'), undefined, id);
      assert.deepEqual(s1.records(id), [], id);
    }
    assert.equal(s1.issueCount, 0);
    for (const id of PROTO_NAMES) {
      const rec = {
        fingerprint: 'fp',
        dispatched_at: new Date().toISOString(),
        ticket: 'INFRA-1',
        session_key: `hook:infra:${id}`,
      };
      await s1.markSending(id, rec);
      assert.equal(s1.find(id, 'fp')?.sending, true, id);
      await s1.record(id, { ...rec, announced: false });
      await s1.markAnnounced(id, 'fp');
    }
    assert.equal(s1.issueCount, PROTO_NAMES.length);
    const s2 = await DispatchStateStore.open(path);
    assert.equal(s2.issueCount, PROTO_NAMES.length);
    for (const id of PROTO_NAMES) {
      assert.equal(s2.find(id, 'fp')?.announced, true, id);
      assert.equal(s2.find(id, 'other'), undefined, id);
    }
    await s2.markSending('__proto__', {
      fingerprint: 'fp2',
      dispatched_at: new Date().toISOString(),
      ticket: 'INFRA-1',
      session_key: 'hook:infra:__proto__',
    });
    await s2.clearSending('__proto__', 'fp2');
    assert.equal(s2.records('__proto__').length, 1);
  });

  it('reads an action named like an Object member as that word', () => {
    for (const action of PROTO_NAMES) {
      const read = readPlaneWorkItem(planeV1Issue({ action }));
      assert.ok(read.ok);
      assert.equal(read.item.action, action.toLowerCase());
      const gate = evaluateGate(read.item, resolveDispatcherConfig());
      assert.equal(gate.ready, false);
      assert.match(
        gate.ready ? '' : (gate.reasons[0] ?? ''),
        new RegExp(`^action '${action.toLowerCase()}'`),
      );
    }
  });
});
