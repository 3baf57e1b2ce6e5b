import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { AppError, ERROR_CATALOGUE, projectRoot, toProblem } from '@33god/core';

describe('error catalogue', () => {
  it('documents every code in docs/errors.md', () => {
    const doc = readFileSync(`${projectRoot()}/docs/errors.md`, 'utf8');
    const missing = Object.keys(ERROR_CATALOGUE).filter((code) => !doc.includes(`\`${code}\``));
    assert.deepEqual(missing, [], `codes missing from docs/errors.md: ${missing.join(', ')}`);
  });

  it('builds problem+json from an AppError, with violations', () => {
    const err = new AppError('SCHEMA_VIOLATION', 'payload is wrong', {
      violations: [{ pointer: '/payload/message', message: 'must be string' }],
    });
    const p = toProblem(err, '/events');
    assert.equal(p.status, 422);
    assert.equal(p.type, 'https://33god.dev/problems/schema-violation');
    assert.equal(p.code, 'SCHEMA_VIOLATION');
    assert.equal(p.instance, '/events');
    assert.deepEqual(p.errors, [{ pointer: '/payload/message', message: 'must be string' }]);
  });

  it('never leaks an unknown error message or stack', () => {
    const p = toProblem(new Error('connection to 10.0.0.3 refused at Socket.foo (net.js:12)'));
    assert.equal(p.status, 500);
    assert.equal(p.code, 'INTERNAL');
    assert.doesNotMatch(JSON.stringify(p), /10\.0\.0\.3|net\.js|Socket/);
  });
});
