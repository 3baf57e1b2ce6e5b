import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { republishEnvelope, shellQuote, toCurl } from '../web/src/logic/curl.js';
import { formatRate, RateCounter } from '../web/src/logic/rates.js';
import { formatRoute, parseRoute, withParams } from '../web/src/logic/routes.js';
import { buildPayload, exampleFromSchema, formFields, payloadSchema } from '../web/src/logic/schema-form.js';
import { bucketSeries, sparkPath } from '../web/src/logic/series.js';
import { storedEvent } from './helpers.js';

const run = promisify(execFile);

describe('routes: every view and filter in the URL', { timeout: 10_000 }, () => {
  test('parse and format round-trip, ids may contain dots and slashes', () => {
    const r = parseRoute('#/stream?type=agent.%23&q=hello%20world');
    assert.deepEqual(r, { view: 'stream', params: { type: 'agent.#', q: 'hello world' } });
    assert.equal(parseRoute(formatRoute(r)).params.type, 'agent.#');
    const s = parseRoute(formatRoute({ view: 'schemas', id: 'a.b/c', params: {} }));
    assert.equal(s.id, 'a.b/c');
    assert.deepEqual(parseRoute(''), { view: 'topology', params: {} });
    assert.equal(parseRoute('#/nonsense/x').view, 'topology');
    assert.equal(
      formatRoute(withParams({ view: 'stream', params: { a: '1', b: '2' } }, { a: undefined, c: '' })),
      '#/stream?b=2',
    );
  });
});

describe('copy as curl', { timeout: 20_000 }, () => {
  const e = storedEvent({
    event_type: 'agent.thread.prompt',
    correlation_id: 'corr-1',
    payload: { text: 'it\'s a "quoted" $HOME `x` \\ test' },
    routing_key: 'agent.thread.prompt',
    received_at: '2026-01-01T00:00:00Z',
  });

  test('the republished envelope drops store bookkeeping and is caused by the original', () => {
    const env = republishEnvelope(e);
    assert.deepEqual(Object.keys(env).sort(), [
      'causation_id',
      'correlation_id',
      'event_type',
      'payload',
      'source',
      'version',
    ]);
    assert.equal(env.causation_id, e.event_id);
    const same = republishEnvelope(e, true);
    assert.equal(same.event_id, e.event_id);
  });

  test('the command, run by a real shell and curl, delivers the exact envelope', async () => {
    let received = '';
    let contentType = '';
    const server = createServer((req, res) => {
      contentType = req.headers['content-type'] ?? '';
      req.on('data', (c) => {
        received += c;
      });
      req.on('end', () => res.writeHead(202).end('{}'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    try {
      const cmd = toCurl(e, `http://127.0.0.1:${port}/events`);
      await run('sh', ['-c', cmd]);
      assert.equal(contentType, 'application/json');
      assert.deepEqual(JSON.parse(received), republishEnvelope(e));
    } finally {
      server.close();
    }
    assert.equal(shellQuote("a'b"), `'a'\\''b'`);
  });
});

describe('publish form from a schema', { timeout: 10_000 }, () => {
  const schema = JSON.parse(
    readFileSync(
      resolve(import.meta.dirname, '../../../../shared/fixtures/holyfields-v1/task/step.executed.v1.json'),
      'utf8',
    ),
  );

  test('fields come from the payload part of an envelope schema', () => {
    const fields = formFields(payloadSchema(schema), schema);
    const byKey = new Map(fields.map((f) => [f.key, f]));
    assert.deepEqual(
      [...byKey.keys()],
      ['task_id', 'step_id', 'file_path', 'diff', 'test_result', 'approval_status'],
    );
    assert.equal(byKey.get('test_result')?.kind, 'enum');
    assert.deepEqual(byKey.get('test_result')?.enumValues, ['passed', 'failed', 'skipped']);
    assert.equal(byKey.get('task_id')?.kind, 'string', 'a reference to another file is entered as text');
    assert.equal(byKey.get('task_id')?.required, true);
    assert.equal(byKey.get('diff')?.required, false);
  });

  test('values become a typed payload; bad input is reported per field', () => {
    const fields = formFields({
      type: 'object',
      required: ['n', 'meta'],
      properties: {
        n: { type: 'integer' },
        ok: { type: 'boolean' },
        tags: { type: 'array', items: { type: 'string' } },
        meta: { type: 'object', properties: { who: { type: 'string' } } },
        opt: { type: 'string' },
      },
    });
    const good = buildPayload(fields, { n: '3', ok: 'true', tags: '["a"]', 'meta.who': 'me' });
    assert.deepEqual(good, { payload: { n: 3, ok: true, tags: ['a'], meta: { who: 'me' } }, errors: [] });
    const bad = buildPayload(fields, { n: '3.5', tags: '[oops' });
    assert.deepEqual(
      bad.errors.map((x) => x.key),
      ['n', 'tags'],
    );
    const missing = buildPayload(fields, { n: '' });
    assert.deepEqual(missing.errors, [{ key: 'n', message: 'required' }]);
  });

  test('local $ref and allOf are resolved; examples are plausible', () => {
    const s = {
      $defs: { id: { type: 'string', format: 'uuid' } },
      allOf: [{ properties: { a: { $ref: '#/$defs/id' } }, required: ['a'] }],
      properties: { b: { type: 'number', minimum: 2 } },
    };
    const fields = formFields(s);
    assert.deepEqual(
      fields.map((f) => [f.key, f.kind, f.required]),
      [
        ['a', 'string', true],
        ['b', 'number', false],
      ],
    );
    assert.deepEqual(exampleFromSchema({ type: 'object', properties: s.properties }), { b: 2 });
    assert.deepEqual(exampleFromSchema({ examples: [{ x: 1 }] }), { x: 1 });
  });
});

describe('rates and charts', { timeout: 10_000 }, () => {
  test('sliding-window rate forgets old seconds', () => {
    const r = new RateCounter(10);
    const t = 1_000_000_000;
    for (let i = 0; i < 50; i++) r.add('k', t + i * 20);
    assert.equal(r.rate('k', t + 999), 5);
    assert.equal(r.rate('k', t + 11_000), 0);
    assert.equal(r.rate('none', t), 0);
    assert.equal(formatRate(0.5), '30/min');
    assert.equal(formatRate(2.5), '2.5/s');
    assert.equal(formatRate(2000), '2000/s');
  });

  test('bucket series fill gaps with zero; spark paths stay in the box', () => {
    const s = bucketSeries(
      [
        { bucket: '2026-01-01T00:01:00Z', key: 'a', count: 3 },
        { bucket: '2026-01-01T00:01:00Z', key: 'b', count: 1 },
        { bucket: '2026-01-01T00:03:00Z', key: 'a', count: 2 },
      ],
      '2026-01-01T00:00:00Z',
      '2026-01-01T00:05:00Z',
      60,
    );
    assert.deepEqual(s.total, [0, 4, 0, 2, 0]);
    assert.deepEqual(s.byKey.get('a'), [0, 3, 0, 2, 0]);
    const p = sparkPath([0, 5, 10], 100, 50);
    assert.equal(p.max, 10);
    assert.match(p.line, /^M0.0,49.0 L50.0,25.0 L100.0,1.0$/);
  });
});
