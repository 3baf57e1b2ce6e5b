// A bounded, reproducible fuzz run of the HTTP APIs (gateway and store) with malformed and
// hostile input. Reproduce a run with FUZZ_SEED=<the printed seed>; FUZZ_REQUESTS changes
// the number of requests (default 1500).
//
// Every answer must be < 500 (the broker and the databases are up the whole time), every
// 4xx a problem+json document with type, title, status and code, no body may carry a stack
// trace or a file path, both servers must still answer /health with 200 at the end, and a
// queue bound `#` on the test's exchange must receive exactly the events of the 2xx answers.
//
// The run is made twice: with no tokens, and with tokens configured (AUTH_TOKENS-style access
// on both parts), where each request carries the right token, a token of the wrong scope, a
// garbage one or none, chosen by the same seed.
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  createEmbeddedTransport,
  EmbeddedBroker,
  type Gateway,
  startGateway,
  type Transport,
} from '@33god/bloodbank';
import { type RunningCandystore, startCandystore } from '@33god/candystore';
import { type AccessConfig, OPEN_ACCESS, parseTokenEntries } from '@33god/core';
import { freshDatabase, leak, problemDefect, rid, waitFor } from './support.js';

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 1500);
const PLANE_SECRET = 'fuzz-plane-secret';
const GITHUB_SECRET = 'fuzz-github-secret';

/** mulberry32: small, fast, and the same sequence on every machine for one seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const chance = (p: number) => next() < p;
  return { next, int, pick, chance };
}
type Rng = ReturnType<typeof prng>;

// --- hostile values -------------------------------------------------------------------

const SQL = [
  "'; DROP TABLE events; --",
  "' OR '1'='1",
  '1; SELECT pg_sleep(5)',
  "\\'; --",
  '%',
  '_',
  '$1',
  "') UNION SELECT * FROM event_ids --",
  '"; DELETE FROM events; --',
  "E'\\x00'",
];
const WEIRD = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\uFFFF',
  '\uD800',
  '😀'.repeat(50),
  'null',
  'undefined',
  'NaN',
  'Infinity',
  '-1',
  '1e309',
  '0x10',
  '00000000-0000-0000-0000-000000000000',
  'ZZZZZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZZZZZZZZZ',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  '<script>alert(1)</script>',
  '{{7*7}}',
  '$\x7b7*7}',
  '../../../../etc/passwd',
  '%00',
  '%ZZ',
  'test.event.created',
  'Test.Event.Created',
  'test..created',
  'test.event.created.',
  '#',
  '*.*.*',
  'a'.repeat(5000),
  '2026-13-45T99:99:99Z',
  '2026-01-01T00:00:00Z',
  '9999-12-31T23:59:59.999999999Z',
  '0000-01-01T00:00:00Z',
  ...SQL,
];

/** Percent-encodes; a lone surrogate becomes the bytes of one (invalid UTF-8 in the URL), on purpose. */
function enc(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return '%ED%A0%80';
  }
}

function randomText(r: Rng, max = 40): string {
  const alphabet = 'abcXYZ019 .-_:;\'"\\{}[]<>%$#@!*&|=+,?~`^()\t\n\u00e9\u4e2d\u0001\u007f';
  let s = '';
  const n = r.int(max);
  for (let i = 0; i < n; i++) s += alphabet[r.int(alphabet.length)];
  return s;
}

function deep(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array'
    ? `${'['.repeat(depth)}${']'.repeat(depth)}`
    : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

function randomValue(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 2 ? 8 : 12)) {
    case 0:
      return r.pick(WEIRD);
    case 1:
      return r.pick([0, -1, 1.5, 1e308, -0, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER]);
    case 2:
      return String(r.pick([0, -1, 1.5, 1e308, 42]));
    case 3:
      return r.pick([true, false, null]);
    case 4:
      return randomText(r);
    case 5:
      return randomUUID();
    case 6:
      return r.pick(SQL);
    case 7:
      return '';
    case 8:
      return Array.from({ length: r.int(4) }, () => randomValue(r, depth + 1));
    case 9:
      return JSON.parse(`{"__proto__": {"polluted": ${JSON.stringify(randomValue(r, depth + 1))}}}`);
    case 10:
      return {
        constructor: { prototype: { polluted: true } },
        [randomText(r, 8)]: randomValue(r, depth + 1),
      };
    default:
      return Object.fromEntries(
        Array.from({ length: r.int(4) }, () => [r.pick(WEIRD).slice(0, 20), randomValue(r, depth + 1)]),
      );
  }
}

function validEnvelope(r: Rng): Record<string, unknown> {
  const e: Record<string, unknown> = {
    event_type: 'test.event.created',
    payload: { message: `fuzz ${r.int(1e6)}` },
  };
  if (r.chance(0.5)) e.event_id = randomUUID();
  if (r.chance(0.3)) e.correlation_id = randomUUID();
  if (r.chance(0.3)) e.timestamp = new Date().toISOString();
  if (r.chance(0.3)) e.version = '1.0.0';
  if (r.chance(0.3)) e.source = { app: 'fuzzer', host: 'h', trigger_type: 'manual' };
  return e;
}

const FIELDS = [
  'event_id',
  'event_type',
  'timestamp',
  'version',
  'source',
  'correlation_id',
  'causation_id',
  'payload',
  '__proto__',
  'constructor',
  'extra',
];

function mutatedEnvelope(r: Rng): unknown {
  const e = validEnvelope(r);
  const n = 1 + r.int(3);
  for (let i = 0; i < n; i++) {
    const field = r.pick(FIELDS);
    if (r.chance(0.15)) delete e[field];
    else if (field === 'source' && r.chance(0.5)) e.source = { app: randomValue(r), host: randomValue(r) };
    else if (field === 'payload' && r.chance(0.5)) e.payload = { message: randomValue(r) };
    else if (field === '__proto__') {
      // a real own member called __proto__, as JSON.parse makes it
      const rest = JSON.stringify(e).slice(1);
      return JSON.parse(`{"__proto__":${JSON.stringify(randomValue(r))}${rest === '}' ? '' : ','}${rest}`);
    } else e[field] = randomValue(r);
  }
  return e;
}

// --- requests --------------------------------------------------------------------------

interface Req {
  target: 'gateway' | 'store' | 'store-pg';
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** Shown with a failure so it can be replayed. */
  label: string;
}

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/cloudevents+json',
  'application/cloudevents-batch+json',
  'application/x-ndjson',
  'text/plain',
  'application/xml',
  'multipart/form-data; boundary=x',
  'application/x-www-form-urlencoded',
  'application/json; charset=latin1',
  'APPLICATION/JSON',
  '',
  ';;;',
  'application/',
  '*/*',
];

const INVALID_UTF8 = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0xff, 0xfe, 0x22, 0x7d]);

function jsonBody(r: Rng, value: unknown): Buffer {
  const text = JSON.stringify(value) ?? 'null';
  switch (r.int(12)) {
    case 0:
      return Buffer.concat([
        Buffer.from(text.slice(0, Math.max(0, text.length - 1 - r.int(5)))),
        INVALID_UTF8,
      ]);
    case 1:
      return Buffer.from(text.replace(/"/, '"\u0000'));
    case 2:
      return Buffer.from(text.slice(0, r.int(text.length + 1)));
    default:
      return Buffer.from(text);
  }
}

function hostileHeaderValue(r: Rng): string {
  // Node refuses to send control characters in headers; everything else goes.
  return r.pick([
    randomUUID(),
    randomUUID().toUpperCase(),
    'not-a-uuid',
    '',
    ' ',
    'a'.repeat(4000),
    "'; DROP TABLE events; --",
    '00000000-0000-0000-0000-000000000000',
    `${randomUUID()},${randomUUID()}`,
    '\u00ff\u00fe',
    '../../etc/passwd',
    '__proto__',
  ]);
}

function withCorrelationGarbage(r: Rng, headers: Record<string, string>): Record<string, string> {
  if (r.chance(0.3)) headers['x-correlation-id'] = hostileHeaderValue(r);
  if (r.chance(0.15)) headers['x-causation-id'] = hostileHeaderValue(r);
  return headers;
}

function cloudEventHeaders(r: Rng): Record<string, string> {
  const h: Record<string, string> = {};
  const all: Record<string, () => string> = {
    'ce-specversion': () => r.pick(['1.0', '0.3', '2.0', '', hostileHeaderValue(r)]),
    'ce-id': () => r.pick([randomUUID(), hostileHeaderValue(r)]),
    'ce-type': () => r.pick(['test.event.created', 'nope', hostileHeaderValue(r)]),
    'ce-source': () => r.pick(['/fuzz', 'urn:x', '', hostileHeaderValue(r)]),
    'ce-time': () => r.pick([new Date().toISOString(), 'yesterday', hostileHeaderValue(r)]),
    'ce-correlationid': () => hostileHeaderValue(r),
    'ce-causationid': () => hostileHeaderValue(r),
    'ce-dataschema': () => hostileHeaderValue(r),
    'ce-__proto__': () => 'x',
  };
  for (const [k, f] of Object.entries(all)) if (r.chance(0.7)) h[k] = f();
  return h;
}

function signed(secret: string, body: Buffer, prefix: string): string {
  return `${prefix}${createHmac('sha256', secret).update(body).digest('hex')}`;
}

function gatewayRequest(r: Rng, i: number): Req {
  const kind = r.int(12);
  const ct = r.chance(0.8) ? 'application/json' : r.pick(CONTENT_TYPES);
  const headers = (extra: Record<string, string> = {}) =>
    withCorrelationGarbage(r, ct === '' ? { ...extra } : { 'content-type': ct, ...extra });
  switch (kind) {
    case 0: // a valid event, possibly with garbage ids in the headers: mostly 202
      return {
        target: 'gateway',
        method: 'POST',
        path: r.pick(['/events', '/publish']),
        headers: withCorrelationGarbage(r, { 'content-type': 'application/json' }),
        body: Buffer.from(JSON.stringify(validEnvelope(r))),
        label: `#${i} valid event`,
      };
    case 1:
    case 2:
      return {
        target: 'gateway',
        method: 'POST',
        path: r.pick(['/events', '/publish']),
        headers: headers(),
        body: jsonBody(r, mutatedEnvelope(r)),
        label: `#${i} mutated envelope`,
      };
    case 3: {
      const n = r.pick([0, 1, 2, 5, 1001]);
      const items = Array.from({ length: n }, () => (r.chance(0.7) ? validEnvelope(r) : mutatedEnvelope(r)));
      const ndjson = ct === 'application/x-ndjson';
      return {
        target: 'gateway',
        method: 'POST',
        path: '/events/batch',
        headers: headers(),
        body: ndjson
          ? Buffer.from(items.map((x) => (r.chance(0.1) ? randomText(r) : JSON.stringify(x))).join('\n'))
          : jsonBody(r, r.chance(0.1) ? randomValue(r) : items),
        label: `#${i} batch of ${n}`,
      };
    }
    case 4:
      return {
        target: 'gateway',
        method: 'POST',
        path: '/events',
        headers: {
          ...cloudEventHeaders(r),
          'content-type': r.pick(['application/json', 'text/plain', 'application/octet-stream']),
        },
        body: jsonBody(r, r.chance(0.5) ? { message: 'binary ce' } : randomValue(r)),
        label: `#${i} binary CloudEvent`,
      };
    case 5: {
      const ce: Record<string, unknown> = {
        specversion: '1.0',
        id: randomUUID(),
        type: 'test.event.created',
        source: '/fuzz',
        data: { message: 'structured ce' },
      };
      for (const k of [
        'specversion',
        'id',
        'type',
        'source',
        'data',
        'time',
        'correlationid',
        'datacontenttype',
      ]) {
        if (r.chance(0.3)) ce[k] = randomValue(r);
      }
      return {
        target: 'gateway',
        method: 'POST',
        path: '/events',
        headers: { 'content-type': 'application/cloudevents+json' },
        body: jsonBody(r, ce),
        label: `#${i} structured CloudEvent`,
      };
    }
    case 6: {
      const provider = r.pick(['plane', 'github', 'gitlab', '__proto__', 'constructor', '..%2f..']);
      const bodyValue = r.chance(0.5)
        ? {
            event: r.pick([
              'issue',
              'workitem.created',
              'Issue Comment',
              '',
              '...',
              '__proto__',
              'a'.repeat(300),
            ]),
            action: r.pick(['updated', 'created', '', '!!', 'a.b.c']),
            delivery_id: r.chance(0.5) ? randomUUID() : randomValue(r),
            data: randomValue(r),
          }
        : randomValue(r);
      const body = jsonBody(r, bodyValue);
      const h: Record<string, string> = {
        'content-type': r.pick(['application/json', 'text/plain', 'application/xml']),
      };
      const sign = r.int(4);
      if (provider === 'plane' && sign > 0) {
        h['x-plane-signature'] = sign === 3 ? 'deadbeef' : signed(PLANE_SECRET, body, '');
      }
      if (provider === 'github' && sign > 0) {
        h['x-hub-signature-256'] = sign === 3 ? 'sha256=00' : signed(GITHUB_SECRET, body, 'sha256=');
        h['x-github-event'] = r.pick(['push', 'issues', '', 'Weird Event!', '__proto__']);
        if (r.chance(0.7)) h['x-github-delivery'] = r.chance(0.8) ? randomUUID() : hostileHeaderValue(r);
      }
      if (provider === 'plane' && r.chance(0.5)) h['x-plane-delivery'] = hostileHeaderValue(r);
      return {
        target: 'gateway',
        method: 'POST',
        path: `/webhooks/${provider}`,
        headers: h,
        body,
        label: `#${i} webhook ${provider} (signature mode ${sign})`,
      };
    }
    case 7: {
      const big = r.int(3);
      const body =
        big === 0
          ? Buffer.from(
              JSON.stringify({
                event_type: 'test.event.created',
                payload: { message: 'x'.repeat(1_100_000) },
              }),
            )
          : big === 1
            ? Buffer.from(deep(r.pick([1000, 20_000, 100_000]), r.pick(['array', 'object'])))
            : Buffer.from(
                `{"event_type":"test.event.created","payload":{"message":"deep","x":${deep(r.pick([500, 5000, 50_000]), r.pick(['array', 'object']))}}}`,
              );
      return {
        target: 'gateway',
        method: 'POST',
        path: r.pick(['/events', '/publish', '/events/batch']),
        headers: { 'content-type': 'application/json' },
        body,
        label: `#${i} huge or deep body (${big})`,
      };
    }
    case 8:
      return {
        target: 'gateway',
        method: 'POST',
        path: r.pick(['/events', '/publish', '/events/batch']),
        headers: headers(),
        body: r.pick([
          Buffer.alloc(0),
          Buffer.from('\u0000\u0000'),
          INVALID_UTF8,
          Buffer.from('not json at all'),
          Buffer.from('{"a":'),
          Buffer.from('"just a string"'),
          Buffer.from('12345678901234567890'),
          Buffer.from('[]'),
          Buffer.from('{}'),
          Buffer.from('null'),
          Buffer.from(randomText(r, 200)),
        ]),
        label: `#${i} raw garbage body`,
      };
    default: {
      const method = r.pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD']);
      const path = r.pick([
        '/',
        '/events',
        '/events/',
        '/events/batch/x',
        `/events/${enc(r.pick(WEIRD))}`,
        '/webhooks',
        '/webhooks/',
        '/schemas',
        `/schemas/${enc(r.pick(WEIRD))}`,
        '/dead-letters',
        `/dead-letters/${enc(r.pick(WEIRD))}`,
        '/%ZZ',
        '/%E0%A4%A',
        '/..%2f..%2fetc%2fpasswd',
        `/${enc(randomText(r, 30))}`,
        `/events?${enc(r.pick(WEIRD))}=${enc(r.pick(WEIRD))}`,
        '/health?x=1',
        '/docs/../../package.json',
        '/openapi.json',
      ]);
      const body = method === 'GET' || method === 'HEAD' ? undefined : jsonBody(r, randomValue(r));
      return {
        target: 'gateway',
        method,
        path,
        headers: headers(),
        ...(body ? { body } : {}),
        label: `#${i} ${method} ${path}`,
      };
    }
  }
}

const STORE_PARAMS = [
  'type',
  'source',
  'correlation_id',
  'causation_id',
  'since',
  'until',
  'limit',
  'cursor',
  'order',
  'payload.message',
  'payload.a.b',
  'payload.__proto__',
  'payload.',
  'payload.a;b',
  '__proto__',
  'constructor',
  'group_by',
  'bucket',
  "'; --",
];

function storeQuery(r: Rng): string {
  const n = r.int(5);
  const parts: string[] = [];
  for (let k = 0; k < n; k++) {
    const name = r.pick(STORE_PARAMS);
    const value = r.chance(0.3)
      ? r.pick([
          '1',
          '1000',
          '1001',
          '0',
          'asc',
          'desc',
          'test.event.created',
          'test.#',
          'fuzzer',
          randomUUID(),
        ])
      : String(r.pick(WEIRD)).slice(0, 600);
    parts.push(`${enc(name)}=${enc(value)}`);
  }
  if (r.chance(0.05)) parts.push('limit=1&limit=2');
  if (r.chance(0.05)) parts.push('%ZZ=%ZZ');
  return parts.length ? `?${parts.join('&')}` : '';
}

function storeRequest(r: Rng, i: number): Req {
  const target = r.chance(0.5) ? 'store' : 'store-pg';
  const kind = r.int(8);
  const garbage = enc(String(r.pick(WEIRD)).slice(0, 300));
  switch (kind) {
    case 0:
    case 1:
      return {
        target,
        method: 'GET',
        path: `/events${storeQuery(r)}`,
        headers: {},
        label: `#${i} list events`,
      };
    case 2:
      return {
        target,
        method: 'GET',
        path: `/events/${r.chance(0.2) ? randomUUID() : garbage}`,
        headers: {},
        label: `#${i} event by id`,
      };
    case 3:
      return {
        target,
        method: 'GET',
        path: `/correlations/${r.chance(0.2) ? randomUUID() : garbage}${storeQuery(r)}`,
        headers: {},
        label: `#${i} correlation`,
      };
    case 4:
      return { target, method: 'GET', path: `/stats${storeQuery(r)}`, headers: {}, label: `#${i} stats` };
    case 5: {
      const body: Record<string, unknown> = {
        filter: r.chance(0.5) ? { type: r.pick(WEIRD), payload: randomValue(r) } : randomValue(r),
        target: r.chance(0.5)
          ? { exchange: `fuzz.${rid()}.${r.pick(['x', "'; --", '', '#'])}` }
          : randomValue(r),
      };
      if (r.chance(0.5)) body.since = r.pick(WEIRD);
      if (r.chance(0.5)) body.until = r.pick(WEIRD);
      if (r.chance(0.5)) body.rate_per_second = randomValue(r);
      // an own member named __proto__, which JSON.stringify sends as it is
      if (r.chance(0.3))
        Object.defineProperty(body, '__proto__', { value: { polluted: true }, enumerable: true });
      return {
        target,
        method: 'POST',
        path: '/replays',
        headers: { 'content-type': r.chance(0.85) ? 'application/json' : r.pick(CONTENT_TYPES) },
        body: jsonBody(r, r.chance(0.2) ? randomValue(r) : body),
        label: `#${i} replay`,
      };
    }
    case 6:
      return {
        target,
        method: r.pick(['GET', 'DELETE']),
        path: `/replays/${garbage}`,
        headers: {},
        label: `#${i} replay by id`,
      };
    default: {
      const method = r.pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD']);
      const path = r.pick([
        '/',
        `/${garbage}`,
        '/events/',
        '/correlations',
        '/correlations/',
        '/stats/x',
        '/%ZZ',
        '/..%2f..%2fetc%2fpasswd',
        '/openapi.json',
        '/health?x=1',
        `/events?${garbage}`,
      ]);
      const body = method === 'GET' || method === 'HEAD' ? undefined : jsonBody(r, randomValue(r));
      return {
        target,
        method,
        path,
        headers: body ? { 'content-type': r.pick(CONTENT_TYPES) || 'application/json' } : {},
        ...(body ? { body } : {}),
        label: `#${i} ${method} ${path}`,
      };
    }
  }
}

// --- sending ---------------------------------------------------------------------------

interface Answer {
  status: number;
  contentType: string | undefined;
  body: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 8 });

function send(base: string, req: Req): Promise<Answer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...req.headers };
    if (req.body) headers['content-length'] = req.body.length;
    const r = request(
      { host: url.hostname, port: url.port, method: req.method, path: req.path, headers, agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: res.headers['content-type'],
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    r.setTimeout(30_000, () => r.destroy(new Error('no answer within 30 s')));
    r.on('error', reject);
    r.end(req.body);
  });
}

// --- the run ---------------------------------------------------------------------------

// --- tokens (the auth-on run) -----------------------------------------------------------

const TOKENS = { publish: 'fuzz-publish-token', read: 'fuzz-read-token', operate: 'fuzz-operate-token' };
const FUZZ_ACCESS: AccessConfig = {
  ...OPEN_ACCESS,
  tokens: parseTokenEntries(
    `${TOKENS.publish}=fuzz-producer:publish,${TOKENS.read}=fuzz-reader:read,${TOKENS.operate}=fuzz-operator:read+operate`,
    'fuzz tokens',
  ),
};

/** A registry in which the fuzz producer may publish anything (its policy is another test's). */
function fuzzRegistry(): { path: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'fuzz-registry-'));
  const path = join(dir, 'registry.yaml');
  writeFileSync(
    path,
    'version: "1.0"\nexchange:\n  name: "x"\n  type: "topic"\n  durable: true\nservices:\n  fuzz-producer:\n    name: "fuzz-producer"\n    produces:\n      - "#"\n',
  );
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The credential a request carries in the auth-on run: mostly the one its route needs. */
function withToken(r: Rng, req: Req): Req {
  const needed =
    req.target === 'gateway'
      ? req.method === 'GET' || req.method === 'HEAD'
        ? TOKENS.read
        : TOKENS.publish
      : req.method === 'GET' || req.method === 'HEAD'
        ? TOKENS.read
        : TOKENS.operate;
  const roll = r.next();
  const token =
    roll < 0.75
      ? needed
      : roll < 0.85
        ? null
        : roll < 0.95
          ? r.pick(Object.values(TOKENS).filter((t) => t !== needed))
          : r.pick(['', 'x', '__proto__', 'Bearer', `${needed}x`, needed.slice(1)]);
  const headers = { ...req.headers };
  if (token !== null) headers.authorization = r.chance(0.05) ? `Basic ${token}` : `Bearer ${token}`;
  return { ...req, headers };
}

for (const auth of [false, true]) {
  describe(`HTTP fuzz of the gateway and the store (${auth ? 'auth on' : 'auth off'})`, {
    timeout: 300_000,
  }, () => {
    const id = rid();
    const access = auth ? FUZZ_ACCESS : OPEN_ACCESS;
    const registry = auth ? fuzzRegistry() : null;
    const authorized = (headers: Record<string, string>, token: string): Record<string, string> =>
      auth ? { ...headers, authorization: `Bearer ${token}` } : headers;
    const exchange = `test.${id}.events`;
    const verifyQueue = `test.${id}.verify`;
    let transport: Transport;
    let gateway: Gateway;
    let store: RunningCandystore;
    let storePg: RunningCandystore;
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    const delivered = new Map<string, number>();

    before(async () => {
      transport = createEmbeddedTransport({ broker: new EmbeddedBroker() });
      await transport.assertExchange(exchange, 'topic', { durable: true });
      await transport.assertQueue(verifyQueue, { durable: true });
      await transport.bindQueue(verifyQueue, exchange, '#');
      await transport.consume(
        verifyQueue,
        (d) => {
          const doc = JSON.parse(d.body.toString('utf8')) as { event_id: string };
          delivered.set(doc.event_id, (delivered.get(doc.event_id) ?? 0) + 1);
          d.ack();
        },
        { prefetch: 100 },
      );
      gateway = await startGateway({
        transport,
        exchange,
        port: 0,
        host: '127.0.0.1',
        registryPath: registry?.path ?? null,
        access,
        webhookSecrets: { plane: PLANE_SECRET, github: GITHUB_SECRET },
        healthIntervalMs: 0,
        watchSchemas: false,
        subscribeSchemaUpdates: false,
        logLevel: 'silent',
      });
      const common = {
        transport,
        exchange,
        dlx: `test.${id}.dlx`,
        port: 0,
        host: '127.0.0.1',
        logLevel: 'silent',
        publishSummaries: false,
        batchMaxWaitMs: 10,
        access,
      };
      store = await startCandystore({ ...common, dataDir: null, queue: `test.${id}.store` });
      db = await freshDatabase('fuzz');
      storePg = await startCandystore({ ...common, databaseUrl: db.url, queue: `test.${id}.store-pg` });
    });

    after(async () => {
      await gateway?.close();
      await store?.close();
      await storePg?.close();
      await transport?.close();
      await db?.drop();
      registry?.remove();
    });

    // The cases earlier fuzz runs found, kept whatever the seed: each once answered 5xx or
    // Fastify's own JSON instead of problem+json.
    it('answers the known hostile cases with problem+json 4xx and publishes none of them', {
      timeout: 60_000,
    }, async () => {
      const deepPayload = (n: number) =>
        Buffer.from(
          `{"event_type":"test.event.created","payload":{"message":"deep","x":${deep(n, 'array')}}}`,
        );
      const webhookBody = Buffer.from(
        `{"event":"issue","action":"updated","delivery_id":"${randomUUID()}","data":${deep(5000, 'object')}}`,
      );
      const cases: Req[] = [
        {
          target: 'gateway',
          method: 'POST',
          path: '/events',
          headers: { 'content-type': 'application/json' },
          body: deepPayload(5000),
          label: 'deep payload',
        },
        {
          target: 'gateway',
          method: 'POST',
          path: '/publish',
          headers: { 'content-type': 'application/json' },
          body: deepPayload(50_000),
          label: 'deeper payload',
        },
        {
          target: 'gateway',
          method: 'POST',
          path: '/events/batch',
          headers: { 'content-type': 'application/json' },
          body: Buffer.from(`[${deepPayload(5000).toString()}]`),
          label: 'deep batch',
        },
        {
          target: 'gateway',
          method: 'POST',
          path: '/events/batch',
          headers: { 'content-type': 'application/x-ndjson' },
          body: deepPayload(5000),
          label: 'deep NDJSON',
        },
        {
          target: 'gateway',
          method: 'POST',
          path: '/webhooks/plane',
          headers: {
            'content-type': 'application/json',
            'x-plane-signature': signed(PLANE_SECRET, webhookBody, ''),
          },
          body: webhookBody,
          label: 'deep signed webhook',
        },
        { target: 'gateway', method: 'GET', path: '/%ZZ', headers: {}, label: 'bad percent-encoding' },
        {
          target: 'gateway',
          method: 'POST',
          path: '/events/%E0%A4%A',
          headers: {},
          label: 'truncated UTF-8 in the path',
        },
        {
          target: 'store',
          method: 'GET',
          path: '/events/%ED%A0%80',
          headers: {},
          label: 'lone surrogate in the path',
        },
        {
          target: 'store-pg',
          method: 'GET',
          path: `/correlations/${'a'.repeat(300)}`,
          headers: {},
          label: 'over-long path parameter',
        },
      ];
      const bases = { gateway: gateway.url, store: store.url, 'store-pg': storePg.url };
      const before = [...delivered.values()].reduce((a, b) => a + b, 0);
      for (const c of cases) {
        const answer = await send(bases[c.target], {
          ...c,
          headers: authorized(c.headers, c.target === 'gateway' ? TOKENS.publish : TOKENS.read),
        });
        assert.ok(
          answer.status >= 400 && answer.status < 500,
          `${c.label}: answered ${answer.status} ${answer.body.slice(0, 200)}`,
        );
        assert.equal(
          problemDefect(answer.status, answer.contentType, answer.body),
          null,
          `${c.label}: ${answer.body.slice(0, 200)}`,
        );
        assert.equal(leak(answer.body), null, c.label);
      }
      const probe = await send(gateway.url, {
        target: 'gateway',
        method: 'POST',
        path: '/events',
        headers: authorized({ 'content-type': 'application/json' }, TOKENS.publish),
        body: Buffer.from(
          JSON.stringify({ event_type: 'test.event.created', payload: { message: 'probe' } }),
        ),
        label: 'probe',
      });
      assert.equal(probe.status, 202);
      const probeId = (JSON.parse(probe.body) as { event_id: string }).event_id;
      // the probe arriving after the rejected cases proves they had their chance to arrive too
      await waitFor('the probe event', 10_000, () => delivered.has(probeId));
      assert.equal(
        [...delivered.values()].reduce((a, b) => a + b, 0),
        before + 1,
        'only the probe was published',
      );
      delivered.delete(probeId);
    });

    it(`sends ${REQUESTS} hostile requests: no 5xx, problem+json 4xx, no leaks, nothing published from a rejection`, {
      timeout: 280_000,
    }, async () => {
      console.log(`fuzz seed ${SEED} (reproduce with FUZZ_SEED=${SEED}), ${REQUESTS} requests`);
      const r = prng(SEED);
      const tokens = prng(SEED ^ 0x5eed);
      const requests: Req[] = [];
      for (let i = 0; i < REQUESTS; i++) {
        // two thirds against the gateway, the rest against the two stores
        const req = r.next() < 0.67 ? gatewayRequest(r, i) : storeRequest(r, i);
        requests.push(auth ? withToken(tokens, req) : req);
      }
      const bases = { gateway: gateway.url, store: store.url, 'store-pg': storePg.url };
      const failures: string[] = [];
      const accepted = new Map<string, number>();
      const statuses = new Map<string, number>();
      let next = 0;
      const worker = async () => {
        for (;;) {
          const i = next++;
          const req = requests[i];
          if (!req) return;
          let answer: Answer;
          try {
            answer = await send(bases[req.target], req);
          } catch (err) {
            failures.push(`${req.target} ${req.label}: no answer (${(err as Error).message})`);
            continue;
          }
          const key = `${req.target} ${answer.status}`;
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
          const where = `${req.target} ${req.label} ${req.method} ${req.path.slice(0, 120)} → ${answer.status}`;
          if (answer.status >= 500) failures.push(`${where}: server error ${answer.body.slice(0, 300)}`);
          if (answer.status >= 400 && req.method !== 'HEAD') {
            const defect = problemDefect(answer.status, answer.contentType, answer.body);
            if (defect) failures.push(`${where}: ${defect}; body ${answer.body.slice(0, 200)}`);
          }
          const leaked = leak(answer.body);
          if (leaked) failures.push(`${where}: the body leaks ${leaked}`);
          if (req.target === 'gateway' && answer.status === 202) {
            const doc = JSON.parse(answer.body) as { event_id?: string; event_ids?: string[] };
            for (const eid of doc.event_ids ?? (doc.event_id ? [doc.event_id] : [])) {
              accepted.set(eid, (accepted.get(eid) ?? 0) + 1);
            }
          }
          if (
            req.target === 'gateway' &&
            answer.status >= 200 &&
            answer.status < 300 &&
            answer.status !== 202
          ) {
            // only a webhook redelivery may answer 200 to a POST, and it publishes nothing
            if (req.method === 'POST' && !req.path.startsWith('/webhooks/')) {
              failures.push(`${where}: a POST answered ${answer.status}, not 202`);
            }
          }
        }
      };
      await Promise.all(Array.from({ length: 6 }, worker));

      const table = [...statuses.entries()].sort().map(([k, n]) => `${k}: ${n}`);
      console.log(`fuzz answers by target and status:\n  ${table.join('\n  ')}`);

      for (const [name, base] of Object.entries(bases)) {
        const res = await fetch(`${base}/health`);
        assert.equal(res.status, 200, `${name} /health after the fuzz run`);
      }
      // The servers ran in this process: a polluted prototype would show here.
      assert.equal(
        (Object.prototype as Record<string, unknown>).polluted,
        undefined,
        'Object.prototype polluted',
      );
      assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype polluted');
      // The SQL metacharacters changed nothing: the accepted events are still there and queryable.
      await waitFor('the PostgreSQL store to hold the accepted events', 30_000, async () => {
        const res = await fetch(`${storePg.url}/events?type=test.event.created&limit=1000`, {
          headers: authorized({}, TOKENS.read),
        });
        const page = (await res.json()) as { items: unknown[] };
        return res.status === 200 && page.items.length > 0;
      });

      // Everything the gateway accepted arrives once; nothing else arrives.
      const acceptedCount = [...accepted.values()].reduce((a, b) => a + b, 0);
      await waitFor('the verification queue to receive every accepted event', 30_000, () => {
        const got = [...delivered.values()].reduce((a, b) => a + b, 0);
        return got >= acceptedCount;
      }).catch(() => {});
      await new Promise((res) => setTimeout(res, 300)); // anything extra would have arrived by now
      const extra = [...delivered.keys()].filter((k) => !accepted.has(k));
      const missing = [...accepted.keys()].filter((k) => !delivered.has(k));
      const doubled = [...delivered.entries()].filter(([k, n]) => n !== (accepted.get(k) ?? 0));
      console.log(
        `fuzz: ${requests.length} requests, ${acceptedCount} events accepted (202), ${[...delivered.values()].reduce((a, b) => a + b, 0)} delivered, ${extra.length} published without a 202, ${missing.length} accepted but not delivered, ${failures.length} defects`,
      );
      assert.ok(acceptedCount > 0, 'some requests were valid and accepted (the accounting is exercised)');
      assert.deepEqual(extra, [], 'events published from requests that were not answered 202');
      assert.deepEqual(missing, [], 'events answered 202 but never delivered');
      assert.deepEqual(
        doubled.filter(([k]) => accepted.has(k)),
        [],
        'events delivered a different number of times than accepted',
      );
      assert.deepEqual(failures.slice(0, 40), [], `${failures.length} defects (seed ${SEED})`);
    });
  });
}

after(() => agent.destroy());
