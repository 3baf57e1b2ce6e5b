import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ENV_VARS, projectRoot } from '@33god/core';
import { INFRA_DISPATCH_QUEUE } from '@33god/infra-dispatcher';

describe('environment variables of the dispatcher', { timeout: 10_000 }, () => {
  it('are all in the README table', () => {
    assert.ok(INFRA_DISPATCH_QUEUE.name, 'the config module is loaded');
    const readme = readFileSync(`${projectRoot()}/README.md`, 'utf8');
    const names = [...ENV_VARS.keys()].filter((n) => n.startsWith('INFRA_') || n.startsWith('OPENCLAW_'));
    assert.ok(names.length >= 13, `expected the dispatcher's variables, got ${names.join(', ')}`);
    const missing = names.filter((n) => !readme.includes(`| \`${n}\` | infra-dispatcher |`));
    assert.deepEqual(missing, [], `missing from the README table: ${missing.join(', ')}`);
  });
});
