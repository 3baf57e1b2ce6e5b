/**
 * Service registries nobody here wrote: every reader of `services/registry.yaml` (the loader,
 * the topology planner, the gateway with its push subscriptions, the dashboard's loader, the
 * store's replay targets) must either accept one and behave correctly, or refuse it with
 * REGISTRY_INVALID (PUSH_CONFIG_INVALID for a push subscription's environment) whose message
 * names the registry path of the mistake: never a stack trace, a hang, a crash, or a broker
 * refusing a declaration later.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  applyTopology,
  checkTopology,
  createEmbeddedTransport,
  EmbeddedBroker,
  planTopology,
  resolveTopologyOptions,
  startGateway,
  type Transport,
} from '@33god/bloodbank';
import { loadRegistry } from '@33god/candybar';
import { replayTargets } from '@33god/candystore/internal';
import { type AppError, formatError, isAppError } from '@33god/core';
import { consumersOf, loadServiceRegistry, producersOf, type ServiceRegistry } from '../src/index.js';
import { OWN_TREE, runNode, tempDir } from './support/generated.js';

const tmp = tempDir('registries');
after(() => tmp.cleanup());

let files = 0;
function write(text: string | Buffer): string {
  const file = join(tmp.dir, `registry-${files++}.yaml`);
  writeFileSync(file, text);
  return file;
}

/** One service `foo` with these YAML lines (indented under it). */
const foo = (...lines: string[]): string => `services:\n  foo:\n${lines.map((l) => `    ${l}`).join('\n')}\n`;

const opts = resolveTopologyOptions({}, {});

/** The refusal every reader must give: the code, the path in the message and a violation's pointer. */
function assertRefused(err: unknown, code: string, path: string, pointer?: string): AppError {
  assert.ok(isAppError(err), `an AppError, got ${err instanceof Error ? err.stack : String(err)}`);
  assert.equal(err.code, code);
  assert.ok(err.message.includes(path), `'${path}' in: ${err.message}`);
  if (pointer !== undefined) {
    const pointers = err.violations.map((v) => v.pointer);
    assert.ok(pointers.includes(pointer), `${pointer} in ${JSON.stringify(pointers)}`);
  }
  assert.doesNotMatch(formatError(err), /\n\s+at /, 'no stack trace');
  return err;
}

async function refusedAtLoad(text: string | Buffer, path: string, pointer?: string): Promise<AppError> {
  let caught: unknown;
  await loadServiceRegistry(write(text)).then(
    () => assert.fail(`accepted; expected a refusal naming ${path}`),
    (err: unknown) => {
      caught = err;
    },
  );
  return assertRefused(caught, 'REGISTRY_INVALID', path, pointer);
}

interface Refused {
  name: string;
  yaml: string;
  /** What the message must name: the registry path (or, for YAML syntax, the line). */
  path: string;
  pointer?: string;
  /** Also in the message: what is wrong. */
  why?: RegExp;
}

const long = (bytes: number, char = 'a') => char.repeat(Math.ceil(bytes / Buffer.byteLength(char)));

const REFUSED: Refused[] = [
  { name: 'an empty file', yaml: '', path: 'is empty', why: /services:/ },
  { name: 'only comments', yaml: '# nothing yet\n# really\n', path: 'is empty' },
  { name: 'a YAML list', yaml: '- a\n- b\n', path: 'is a list' },
  { name: 'a YAML scalar', yaml: 'hello\n', path: 'is a string' },
  { name: 'services: null', yaml: 'services: null\n', path: 'services', pointer: '/services' },
  { name: 'services as a list', yaml: 'services: [a]\n', path: 'services', pointer: '/services' },
  {
    name: 'a duplicate service key',
    yaml: 'services:\n  foo: {queue_name: q1}\n  foo: {queue_name: q2}\n',
    path: "line 3, column 3 ('foo' repeats)",
  },
  {
    name: 'a duplicate key inside a service',
    yaml: foo('queue_name: q1', 'queue_name: q2'),
    path: "('queue_name' repeats)",
  },
  {
    name: 'one queue_name in two services',
    yaml: 'services:\n  a: {queue_name: q}\n  b: {queue_name: q}\n',
    path: 'services.b',
    pointer: '/services/b',
    why: /'q'.*'a'/,
  },
  {
    name: 'one queue twice in a service',
    yaml: foo('queue_name: q', 'queue_names: [q]'),
    path: 'services.foo.queue_names[0]',
    pointer: '/services/foo/queue_names/0',
  },
  {
    name: "the exchange's unroutable queue",
    yaml: foo('queue_name: bloodbank.events.v1.unroutable'),
    path: 'services.foo.queue_name',
    why: /unroutable/,
  },
  {
    name: 'the unroutable queue of a renamed exchange',
    yaml: `exchange: {name: my.events}\n${foo('queue_names: [ok, my.events.unroutable]')}`,
    path: 'services.foo.queue_names[1]',
    pointer: '/services/foo/queue_names/1',
  },
  {
    name: "another queue's dead-letter queue",
    yaml: 'services:\n  a: {queue_name: q}\n  b: {queue_name: q.dlq}\n',
    path: 'services.b.queue_name',
    why: /\.dlq/,
  },
  {
    name: "another queue's retry queue",
    yaml: 'services:\n  a: {queue_name: q}\n  b: {queue_name: q.retry.10s}\n',
    path: 'services.b.queue_name',
    why: /retry/,
  },
  {
    name: 'an amq. queue',
    yaml: foo('queue_name: amq.gen-1'),
    path: 'services.foo.queue_name',
    why: /amq\./,
  },
  {
    name: 'an amq. exchange',
    yaml: 'exchange: {name: amq.topic}\nservices: {}\n',
    path: 'exchange.name',
    why: /amq\./,
  },
  {
    name: 'a queue name over 255 bytes (AMQP shortstr)',
    yaml: foo(`queue_name: "${long(256, 'é')}"`),
    path: 'services.foo.queue_name',
    why: /bytes/,
  },
  {
    name: 'a queue name whose <queue>.retry.10m would pass 255 bytes',
    yaml: foo(`queue_name: "${long(250)}"`),
    path: 'services.foo.queue_name',
    why: /at most 223/,
  },
  {
    name: 'a push queue <id>.push over the limit',
    yaml: `services:\n  ${long(220)}:\n    routing_keys: [a.b]\n    push: {url: "https://h.example/in"}\n`,
    path: `services.${long(220)}.push`,
  },
  {
    name: 'a control character in a queue name',
    yaml: foo('queue_name: "a\\u0007b"'),
    path: 'services.foo.queue_name',
    why: /control/,
  },
  {
    name: 'an empty word in a routing key',
    yaml: foo('queue_name: q', 'routing_keys: ["a..b"]'),
    path: 'services.foo.routing_keys[0]',
    pointer: '/services/foo/routing_keys/0',
    why: /single dots/,
  },
  {
    name: 'a routing key of 33 words',
    yaml: foo('queue_name: q', `routing_keys: ["${Array(33).fill('w').join('.')}"]`),
    path: 'services.foo.routing_keys[0]',
    why: /at most 32/,
  },
  {
    name: '# inside a word',
    yaml: foo('queue_name: q', 'routing_keys: [ok.#, "a#"]'),
    path: 'services.foo.routing_keys[1]',
  },
  {
    name: 'an uppercase routing key (event types are lowercase: it would never match)',
    yaml: foo('queue_name: q', 'routing_keys: [Order.Created]'),
    path: 'services.foo.routing_keys[0]',
    why: /lowercase/,
  },
  {
    name: '17 wildcards',
    yaml: foo('queue_name: q', `routing_keys: ["${Array(17).fill('*').join('.')}"]`),
    path: 'services.foo.routing_keys[0]',
    why: /16 wildcards/,
  },
  {
    name: 'an invalid pattern in push.routing_keys',
    yaml: foo('push: {url: "https://h.example/in", routing_keys: ["a b"]}'),
    path: 'services.foo.push.routing_keys[0]',
  },
  {
    name: 'an invalid pattern in produces',
    yaml: foo('produces: [Orders.*]'),
    path: 'services.foo.produces[0]',
  },
  {
    name: 'an invalid event_subscriptions type',
    yaml: 'services: {a: {}}\nevent_subscriptions:\n  "a..b": [a]\n',
    path: 'event_subscriptions.a..b',
  },
  {
    name: 'a unicode service key',
    yaml: 'services:\n  "café": {queue_name: q}\n',
    path: 'services.café is not a valid name',
    pointer: '/services/café',
  },
  {
    name: 'a service key with a space',
    yaml: 'services:\n  "a b": {queue_name: q}\n',
    path: 'services.a b',
  },
  {
    name: 'a service key with a slash',
    yaml: 'services:\n  "a/b": {queue_name: q}\n',
    path: 'services.a/b',
    pointer: '/services/a~1b',
  },
  {
    name: '__proto__ as a service key',
    yaml: 'services:\n  __proto__: {queue_name: q}\n',
    path: 'services.__proto__',
    why: /prototype/,
  },
  {
    name: '__proto__ as an endpoint name',
    yaml: foo('endpoints: {__proto__: "http://x.example"}'),
    path: 'services.foo.endpoints.__proto__',
  },
  {
    name: '__proto__ as a layer',
    yaml: 'services: {a: {}}\ntopology:\n  __proto__: [a]\n',
    path: 'topology.__proto__',
  },
  {
    name: '__proto__ deep in runtime',
    yaml: foo('runtime: {x: [{__proto__: 1}]}'),
    path: 'services.foo.runtime.x[0].__proto__',
  },
  {
    name: 'produces with non-strings',
    yaml: foo('produces: [a.b, 1, true]'),
    path: 'services.foo.produces[1] must be string',
  },
  { name: 'produces as a string', yaml: foo('produces: a.b'), path: 'services.foo.produces' },
  { name: 'queue_name: 123', yaml: foo('queue_name: 123'), path: 'services.foo.queue_name must be string' },
  {
    name: 'max_attempts: "5"',
    yaml: foo('queue_name: q', 'queue_options: {max_attempts: "5"}'),
    path: 'services.foo.queue_options.max_attempts must be integer',
  },
  ...['-1', '0', '1.5', '1e20', '.inf'].map(
    (v): Refused => ({
      name: `max_attempts: ${v}`,
      yaml: foo('queue_name: q', `queue_options: {max_attempts: ${v}}`),
      path: 'services.foo.queue_options.max_attempts',
      pointer: '/services/foo/queue_options/max_attempts',
    }),
  ),
  ...['0', '-5', '1.5', '4294967296', '.inf', '.nan'].map(
    (v): Refused => ({
      name: `message_ttl_ms: ${v}`,
      yaml: foo('queue_name: q', `queue_options: {message_ttl_ms: ${v}}`),
      path: 'services.foo.queue_options.message_ttl_ms',
    }),
  ),
  {
    name: 'queue_type: stream',
    yaml: foo('queue_name: q', 'queue_options: {queue_type: stream}'),
    path: 'services.foo.queue_options.queue_type',
    why: /classic.*quorum/,
  },
  {
    name: 'queue_type unknown',
    yaml: foo('queue_name: q', 'queue_options: {queue_type: lazy}'),
    path: 'services.foo.queue_options.queue_type',
  },
  {
    name: 'push without url',
    yaml: foo('routing_keys: [a.b]', 'push: {ordered: true}'),
    path: 'services.foo.push.url is required',
  },
  {
    name: 'push to ftp://',
    yaml: foo('routing_keys: [a.b]', 'push: {url: "ftp://h.example/in"}'),
    path: 'services.foo.push.url',
    why: /ftp:/,
  },
  {
    name: 'push url not a URL',
    yaml: foo('routing_keys: [a.b]', 'push: {url: "not a url"}'),
    path: 'services.foo.push.url is not a URL',
  },
  ...['0', '100000', '1.5'].map(
    (v): Refused => ({
      name: `push concurrency: ${v}`,
      yaml: foo('routing_keys: [a.b]', `push: {url: "https://h.example/in", concurrency: ${v}}`),
      path: 'services.foo.push.concurrency',
    }),
  ),
  {
    name: 'push timeout_ms: -1',
    yaml: foo('routing_keys: [a.b]', 'push: {url: "https://h.example/in", timeout_ms: -1}'),
    path: 'services.foo.push.timeout_ms',
  },
  {
    name: 'push secret_env not a variable name',
    yaml: foo('routing_keys: [a.b]', 'push: {url: "https://h.example/in", secret_env: "MY SECRET"}'),
    path: 'services.foo.push.secret_env',
  },
  {
    name: 'push with nothing bound',
    yaml: foo('push: {url: "https://h.example/in"}'),
    path: 'services.foo.push.routing_keys',
  },
  {
    name: 'tabs as indentation',
    yaml: 'services:\n\tfoo:\n\t\tqueue_name: q\n',
    path: 'line 2',
    why: /Tabs/,
  },
  {
    name: 'a YAML alias bomb',
    yaml: [
      'a: &a ["x","x","x","x","x","x","x","x","x"]',
      ...'bcdefghij'
        .split('')
        .map((n, i) => `${n}: &${n} [${Array(9).fill(`*${'abcdefghij'[i]}`).join(',')}]`),
      'services: {}',
    ].join('\n'),
    path: 'not valid YAML',
  },
  {
    name: 'an alias to its own ancestor',
    yaml: 'services:\n  a: &a\n    runtime: {self: *a}\n',
    path: 'alias at services.a.runtime.self',
    pointer: '/services/a/runtime/self',
  },
];

interface Accepted {
  name: string;
  yaml: string | Buffer;
  check: (reg: ServiceRegistry) => void;
}

const only = (reg: ServiceRegistry) => {
  assert.equal(reg.services.length, 1);
  return reg.services[0]!;
};

const ACCEPTED: Accepted[] = [
  {
    name: 'no services at all',
    yaml: 'services: {}\n',
    check: (reg) => assert.deepEqual(reg.services, []),
  },
  {
    name: 'a service without name takes its key',
    yaml: foo('queue_name: q', 'routing_keys: [a.b]'),
    check: (reg) => assert.equal(only(reg).name, 'foo'),
  },
  {
    name: 'a name that differs from the key: the key is the id',
    yaml: foo('name: Foo Service', 'queue_name: q'),
    check: (reg) => assert.deepEqual([only(reg).id, only(reg).name], ['foo', 'Foo Service']),
  },
  {
    name: 'unicode and emoji queue names',
    yaml: foo('queue_name: "café.事件.🎉"', 'routing_keys: [a.b]'),
    check: (reg) => assert.deepEqual(only(reg).queues, ['café.事件.🎉']),
  },
  {
    name: 'a queue name of 223 bytes, spaces and slashes (RabbitMQ takes any UTF-8)',
    yaml: `services:\n  a: {queue_name: "${long(223)}"}\n  b: {queue_name: "a b/c"}\n`,
    check: (reg) => assert.deepEqual(reg.services[1]!.queues, ['a b/c']),
  },
  {
    name: 'constructor and toString as service keys, __proto__ as a tag',
    yaml: [
      'services:',
      '  constructor: {queue_name: q1, routing_keys: [a.b], produces: [x.y], tags: [__proto__, constructor]}',
      '  toString: {queue_name: q2, consumes: ["#"]}',
      'event_subscriptions: {a.b: [toString]}',
      'topology: {constructor: [constructor, toString]}',
    ].join('\n'),
    check: (reg) => {
      assert.deepEqual(
        reg.services.map((s) => s.id),
        ['constructor', 'toString'],
      );
      assert.deepEqual(reg.services[0]!.tags, ['__proto__', 'constructor']);
      assert.deepEqual(
        consumersOf(reg, 'a.b').map((s) => s.id),
        ['constructor', 'toString'],
      );
      assert.deepEqual(
        producersOf(reg, 'x.y').map((s) => s.id),
        ['constructor'],
      );
      assert.deepEqual(reg.layers.constructor, ['constructor', 'toString']);
      assert.deepEqual(reg.warnings, []);
    },
  },
  {
    // Real registries carry metadata of their own: kept out with a warning, not refused, so a
    // typo of a known member is seen without a registry we have not seen being turned away.
    name: 'members the format does not know (a typo, metadata of its own)',
    yaml: `exchange: {name: bloodbank.events.v1, region: eu}\n${foo('queue_nme: q', 'language: python', 'repository: https://git.example/foo')}`,
    check: (reg) => {
      assert.deepEqual(reg.services[0]!.queues, []);
      assert.deepEqual(reg.warnings, [
        'services.foo.queue_nme is not a member of the registry format; it is ignored',
        'services.foo.language is not a member of the registry format; it is ignored',
        'services.foo.repository is not a member of the registry format; it is ignored',
        'exchange.region is not a member of the registry format; it is ignored',
      ]);
    },
  },
  {
    name: 'message_ttl_ms of 2^32-1 and max_attempts written 5.0',
    yaml: foo('queue_name: q', 'queue_options: {message_ttl_ms: 4294967295, max_attempts: 5.0}'),
    check: (reg) => assert.deepEqual(only(reg).queue, { messageTtlMs: 4_294_967_295, maxAttempts: 5 }),
  },
  {
    name: 'a push url with credentials (sent as basic auth)',
    yaml: foo('routing_keys: [a.b]', 'push: {url: "https://user:pa%40ss@h.example/in"}'),
    check: (reg) => assert.equal(only(reg).push?.url, 'https://user:pa%40ss@h.example/in'),
  },
  {
    name: 'anchors, aliases and merge keys (members of the service win over merged ones)',
    yaml: [
      'x-defaults: &defaults {queue_options: {queue_type: quorum, max_attempts: 3}, tags: [shared]}',
      'services:',
      '  a: {<<: *defaults, queue_name: qa, routing_keys: &keys [order.#, payment.*]}',
      '  b:',
      '    <<: [*defaults, {owner: team-b}]',
      '    queue_name: qb',
      '    queue_options: {max_attempts: 9}',
      '    routing_keys: *keys',
    ].join('\n'),
    check: (reg) => {
      const [a, b] = reg.services;
      assert.deepEqual([a!.queue, a!.tags], [{ queueType: 'quorum', maxAttempts: 3 }, ['shared']]);
      assert.deepEqual(
        [b!.owner, b!.queue, b!.routingKeys],
        ['team-b', { maxAttempts: 9 }, ['order.#', 'payment.*']],
      );
    },
  },
  {
    name: 'a BOM',
    yaml: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(foo('queue_name: q'))]),
    check: (reg) => assert.deepEqual(only(reg).queues, ['q']),
  },
  {
    name: 'CRLF line endings',
    yaml: foo('queue_name: q', 'routing_keys:', '  - a.b').replaceAll('\n', '\r\n'),
    check: (reg) => assert.deepEqual([only(reg).queues, only(reg).routingKeys], [['q'], ['a.b']]),
  },
  {
    name: 'a tab inside a value line',
    yaml: foo('queue_name:\tq'),
    check: (reg) => assert.deepEqual(only(reg).queues, ['q']),
  },
];

describe('unusual registries: refused with the path of the mistake', { timeout: 60_000 }, () => {
  for (const c of REFUSED) {
    test(c.name, async () => {
      const err = await refusedAtLoad(c.yaml, c.path, c.pointer);
      if (c.why) assert.match(err.message + err.violations.map((v) => v.message).join(' '), c.why);
      // The dashboard reads it with the same loader and gives the same refusal.
      await loadRegistry(join(tmp.dir, `registry-${files - 1}.yaml`)).then(
        () => assert.fail('the dashboard accepted it'),
        (e: unknown) => assertRefused(e, 'REGISTRY_INVALID', c.path),
      );
    });
  }

  test('a file that is not UTF-8 names the line', async () => {
    await refusedAtLoad(Buffer.from('services:\n  a: {queue_name: "\xff"}\n', 'latin1'), 'line 2');
  });

  test('the catalog CLI refuses it naming the path, without a stack trace', () => {
    const file = write(foo('queue_name: q', 'queue_options: {max_attempts: "5"}'));
    const r = runNode([
      'catalog',
      '--schemas',
      OWN_TREE,
      '--registry',
      file,
      '--out',
      join(tmp.dir, 'catalog'),
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /REGISTRY_INVALID.*services\.foo\.queue_options\.max_attempts must be integer/);
    assert.match(r.stderr, /\/services\/foo\/queue_options\/max_attempts: must be integer/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  test('a file that does not exist', async () => {
    await assert.rejects(loadServiceRegistry(join(tmp.dir, 'missing.yaml')), (e: unknown) => {
      assertRefused(e, 'REGISTRY_INVALID', 'missing.yaml: cannot be read (ENOENT)');
      return true;
    });
  });
});

describe('unusual registries: accepted, planned and shown', { timeout: 60_000 }, () => {
  for (const c of ACCEPTED) {
    test(c.name, async () => {
      const file = write(c.yaml);
      const reg = await loadServiceRegistry(file);
      c.check(reg);
      const plan = planTopology(reg, opts);
      const names = plan.queues.map((q) => q.name);
      assert.equal(new Set(names).size, names.length, 'every planned queue name once');
      for (const n of names) assert.ok(Buffer.byteLength(n) <= 255, `${n} fits AMQP's shortstr`);
      const view = await loadRegistry(file);
      assert.deepEqual(
        view.services.map((s) => s.id),
        reg.services.map((s) => s.id),
      );
      assert.deepEqual(
        replayTargets('ev', reg).queues,
        [...new Set(reg.services.flatMap((s) => s.queues))].sort(),
      );
    });
  }

  test('the dashboard never shows push credentials', async () => {
    const view = await loadRegistry(
      write(foo('routing_keys: [a.b]', 'push: {url: "https://u:p@h.example/in?t=1"}')),
    );
    assert.equal(view.services[0]!.push?.url, 'https://h.example/in');
  });
});

describe('unusual registries: the planner checks what depends on the topology options', {
  timeout: 10_000,
}, () => {
  // The loader cannot know BLOODBANK_DLX or --exchange; the planner refuses before declaring anything.
  const cases: {
    name: string;
    yaml: string;
    options: Parameters<typeof resolveTopologyOptions>[0];
    path: RegExp;
  }[] = [
    {
      name: 'a service queue named like the dead-letter monitor queue',
      yaml: foo('queue_name: bloodbank.dlx.monitor'),
      options: {},
      path: /services\.foo: its queue 'bloodbank\.dlx\.monitor' is also the monitor queue/,
    },
    {
      name: 'a service queue named like the unroutable queue of the exchange given on the command line',
      yaml: foo('queue_name: other.unroutable'),
      options: { exchange: 'other' },
      path: /services\.foo: its queue 'other\.unroutable' is also the unroutable queue/,
    },
    {
      name: "a retry tier whose name is another service's queue",
      yaml: 'services:\n  a: {queue_name: q}\n  b: {queue_name: q.retry.1500ms}\n',
      options: { retryTiersMs: [1500] },
      path: /services\.a: its retry queue 'q\.retry\.1500ms' of 'q' is also the queue 'q\.retry\.1500ms' of service 'b'|services\.b: its queue 'q\.retry\.1500ms' is also the retry queue/,
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const reg = await loadServiceRegistry(write(c.yaml)).catch((e: unknown) => {
        // A loader that already refuses it is just as good.
        assertRefused(e, 'REGISTRY_INVALID', 'services.');
        return null;
      });
      if (reg === null) return;
      assert.throws(
        () => planTopology(reg, resolveTopologyOptions(c.options, {})),
        (e: unknown) => {
          assert.ok(isAppError(e) && e.code === 'REGISTRY_INVALID', String(e));
          assert.match(e.message, c.path);
          return true;
        },
      );
    });
  }

  test('a registry built in code with a queue over 255 bytes is refused by the planner', () => {
    const queue = long(260);
    assert.throws(
      () => planTopology({ services: [{ id: 'x', queues: [queue], routingKeys: ['a.b'] }] }, opts),
      /services\.x: its queue '.*' is 260 bytes long; AMQP allows at most 255/,
    );
  });
});

describe('unusual registries on the embedded broker and in the gateway', { timeout: 60_000 }, () => {
  const base = {
    port: 0,
    schemasDir: OWN_TREE,
    healthIntervalMs: 0,
    watchSchemas: false,
    unknownTypes: 'allow' as const,
    exchange: 'test.unusual.events',
    dlx: 'test.unusual.dlx',
    logLevel: 'silent',
  };

  async function withTransport<T>(fn: (t: Transport) => Promise<T>): Promise<T> {
    const transport = createEmbeddedTransport({ broker: new EmbeddedBroker() });
    try {
      return await fn(transport);
    } finally {
      await transport.close();
    }
  }

  test('a unicode queue works end to end: declared, bound, fed by the gateway, consumed', async () => {
    const queue = 'café.事件.🎉';
    const file = write(foo(`queue_name: "${queue}"`, 'routing_keys: [test.unicode.#]'));
    const reg = await loadServiceRegistry(file);
    await withTransport(async (transport) => {
      await applyTopology(transport, reg, { exchange: base.exchange, dlx: base.dlx });
      assert.equal(
        (await checkTopology(transport, reg, { exchange: base.exchange, dlx: base.dlx })).ok,
        true,
      );
      const gw = await startGateway({ ...base, transport, registryPath: file });
      try {
        const res = await fetch(`${gw.url}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ event_type: 'test.unicode.happened', payload: { n: 1 } }),
        });
        assert.equal(res.status, 202, await res.text());
        const got = await new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('nothing reached the unicode queue')), 5000);
          void transport.consume(queue, (d) => {
            d.ack();
            clearTimeout(timer);
            resolve(d.routingKey);
          });
        });
        assert.equal(got, 'test.unicode.happened');
      } finally {
        await gw.close();
      }
    });
  });

  test('a TTL of 2^32-1 ms neither expires messages nor overflows a timer on the embedded broker', async () => {
    const reg = await loadServiceRegistry(
      write(
        foo(
          'queue_name: ttl.max',
          'routing_keys: [test.ttl.#]',
          'queue_options: {message_ttl_ms: 4294967295}',
        ),
      ),
    );
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      await withTransport(async (transport) => {
        await applyTopology(transport, reg, { exchange: base.exchange, dlx: base.dlx });
        await transport.publish({
          exchange: base.exchange,
          routingKey: 'test.ttl.one',
          body: Buffer.from('{}'),
        });
        await new Promise((r) => setTimeout(r, 50));
        assert.equal((await transport.checkQueue('ttl.max'))?.messageCount, 1);
      });
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(warnings, []);
  });

  test('the gateway refuses to start on a bad registry, naming the path', async () => {
    const file = write(foo('queue_name: q', 'queue_options: {max_attempts: "5"}'));
    await withTransport(async (transport) => {
      await assert.rejects(startGateway({ ...base, transport, registryPath: file }), (e: unknown) => {
        assertRefused(e, 'REGISTRY_INVALID', 'services.foo.queue_options.max_attempts');
        return true;
      });
    });
  });

  test('the gateway refuses a push secret_env naming an unset variable, naming the path', async () => {
    const file = write(
      foo(
        'queue_name: test.unusual.push',
        'routing_keys: [test.#]',
        'push: {url: "http://127.0.0.1:9/in", secret_env: UNUSUAL_UNSET}',
      ),
    );
    await withTransport(async (transport) => {
      await assert.rejects(
        startGateway({ ...base, transport, registryPath: file, env: {} }),
        (e: unknown) => {
          assertRefused(
            e,
            'PUSH_CONFIG_INVALID',
            'services.foo.push.secret_env names UNUSUAL_UNSET, which is not set',
          );
          return true;
        },
      );
    });
  });
});

describe('unusual registries: size', { timeout: 180_000 }, () => {
  test('5,000 services in a 10 MB file: loaded, planned, applied and checked in linear work', async () => {
    const n = 5000;
    const description = 'x'.repeat(1900);
    const lines = ['services:'];
    for (let i = 0; i < n; i++) {
      lines.push(
        `  s${i}:`,
        `    description: "${description}"`,
        `    queue_name: q${i}`,
        `    routing_keys: [e${i}.#, shared.key]`,
        `    produces: [e${i}.made]`,
      );
    }
    const file = write(`${lines.join('\n')}\n`);
    assert.ok(Buffer.byteLength(lines.join('\n')) > 10_000_000, 'the file is over 10 MB');
    const started = Date.now();
    const reg = await loadServiceRegistry(file);
    assert.equal(reg.services.length, n);
    const plan = planTopology(reg, opts);
    // Per service: its queue, its DLQ and four retry tiers; plus the unroutable and monitor queues.
    assert.equal(plan.queues.length, n * 6 + 2);
    assert.equal(plan.bindings.length, n * 3 + 2);
    await withEmbedded(async (transport) => {
      const before = await checkTopology(transport, reg);
      assert.equal(before.missingQueues.length, plan.queues.length);
      await applyTopology(transport, reg);
      const report = await checkTopology(transport, reg);
      assert.equal(report.ok, true);
    });
    assert.deepEqual(
      producersOf(reg, `e${n - 1}.made`).map((s) => s.id),
      [`s${n - 1}`],
    );
    // Generous: a quadratic step (a list scanned once per queue) takes minutes here, linear work seconds.
    const seconds = (Date.now() - started) / 1000;
    assert.ok(seconds < 90, `took ${seconds} s`);
  });
});

async function withEmbedded(fn: (t: Transport) => Promise<void>): Promise<void> {
  const transport = createEmbeddedTransport({ broker: new EmbeddedBroker() });
  try {
    await fn(transport);
  } finally {
    await transport.close();
  }
}
