import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isAppError } from '@33god/core';
import { type CliIo, configFromEnv, main, startDispatcher } from '@33god/infra-dispatcher';

const dir = mkdtempSync(join(tmpdir(), 'infra-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function captureIo(): CliIo & { outText: string[]; errText: string[] } {
  const outText: string[] = [];
  const errText: string[] = [];
  return { outText, errText, out: (l) => outText.push(l), err: (l) => errText.push(l) };
}

describe('infra-dispatcher serve', { timeout: 60_000 }, () => {
  it('refuses to start without OPENCLAW_HOOK_TOKEN, saying so', async () => {
    const io = captureIo();
    const code = await main(['serve'], { INFRA_DISPATCH_STATE_PATH: join(dir, 's.json') }, io);
    assert.equal(code, 1);
    assert.match(io.errText.join('\n'), /OPENCLAW_HOOK_TOKEN is required/);
  });

  it('startDispatcher refuses too', async () => {
    await assert.rejects(
      startDispatcher({ config: { statePath: join(dir, 's.json') }, port: 0, logLevel: 'silent' }),
      (err) => isAppError(err) && err.code === 'CONFIG_INVALID' && /OPENCLAW_HOOK_TOKEN/.test(err.message),
    );
  });

  it('rejects invalid settings with the variable name', async () => {
    const io = captureIo();
    const code = await main(['serve'], { OPENCLAW_HOOK_TOKEN: 't', INFRA_CHECK_MODE: 'sometimes' }, io);
    assert.equal(code, 1);
    assert.match(io.errText.join('\n'), /INFRA_CHECK_MODE must be one of block, report/);
  });

  it('answers usage errors with exit code 2', async () => {
    const io = captureIo();
    assert.equal(await main(['launch'], {}, io), 2);
    assert.match(io.errText.join('\n'), /unknown command 'launch'/);
    assert.equal(await main([], {}, io), 2);
    assert.equal(await main(['--help'], {}, io), 0);
  });

  it('reads every setting from the environment', () => {
    const checksFile = join(dir, 'checks.json');
    writeFileSync(
      checksFile,
      JSON.stringify({ Bloodbank: { command: 'npm test', cwd: 'bb', env: { CI: '1' } } }),
    );
    const cfg = configFromEnv({
      OPENCLAW_HOOK_TOKEN: 'tok',
      OPENCLAW_HOOK_URL: 'http://127.0.0.1:9/hooks/agent',
      INFRA_READY_STATES: 'unstarted, todo',
      INFRA_READY_LABELS: 'ready,automation:go,infra',
      INFRA_COMPONENT_LABEL_PREFIX: 'component:',
      INFRA_AGENT_LABEL_PREFIX: 'who:',
      INFRA_RUN_CHECKS: 'false',
      INFRA_CHECK_TIMEOUT_SECONDS: '60',
      INFRA_CHECKS_CONFIG: checksFile,
      INFRA_CHECK_MODE: 'block',
      INFRA_DISPATCHER_PORT: '9999',
      INFRA_DISPATCH_STATE_PATH: '/tmp/x.json',
      INFRA_DISPATCH_QUEUE: 'my.queue',
    });
    assert.equal(cfg.hookToken, 'tok');
    assert.equal(cfg.hookUrl, 'http://127.0.0.1:9/hooks/agent');
    assert.deepEqual(cfg.readyStates, ['unstarted', 'todo']);
    assert.deepEqual(cfg.readyLabels, ['ready', 'automation:go', 'infra']);
    assert.equal(cfg.componentLabelPrefix, 'component:');
    assert.equal(cfg.agentLabelPrefix, 'who:');
    assert.equal(cfg.runChecks, false);
    assert.equal(cfg.checkTimeoutSeconds, 60);
    assert.equal(cfg.checkMode, 'block');
    assert.equal(cfg.port, 9999);
    assert.equal(cfg.statePath, '/tmp/x.json');
    assert.equal(cfg.queue, 'my.queue');
    assert.deepEqual(cfg.checks, { bloodbank: { command: 'npm test', cwd: 'bb', env: { CI: '1' } } });
    assert.equal(cfg.checksRoot, dir);

    const defaults = configFromEnv({});
    assert.equal(defaults.hookUrl, 'http://host.docker.internal:18789/hooks/agent');
    assert.deepEqual(defaults.readyStates, ['unstarted']);
    assert.deepEqual(defaults.readyLabels, ['ready', 'automation:go']);
    assert.equal(defaults.checkTimeoutSeconds, 900);
    assert.equal(defaults.port, 8690);
    assert.equal(defaults.queue, 'infra_dispatcher.plane');
    assert.match(defaults.statePath, /\.data\/infra-dispatch-state\.json$/);
    assert.deepEqual(Object.keys(defaults.checks).sort(), [
      'bloodbank',
      'candybar',
      'candystore',
      'holyfields',
      'pjangler',
    ]);
  });

  it('stops gracefully on SIGTERM and exits 0', async () => {
    const script = fileURLToPath(new URL('./helpers/run-cli.ts', import.meta.url));
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', script, 'serve'], {
      env: {
        ...process.env,
        AMQP_URL: '',
        LOG_LEVEL: 'silent',
        OPENCLAW_HOOK_TOKEN: 'tok',
        INFRA_DISPATCHER_PORT: '0',
        INFRA_DISPATCH_STATE_PATH: join(dir, 'serve-state.json'),
        INFRA_DISPATCH_QUEUE: `test.cli.${process.pid}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    let err = '';
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
    });
    const deadline = Date.now() + 30_000;
    while (!/health on (\S+)/.test(out)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`did not start: ${out}${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const url = /health on (\S+)/.exec(out)![1]!;
    const res = await fetch(url);
    assert.equal(res.status, 200);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, err);
  });
});
