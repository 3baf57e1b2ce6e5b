/**
 * The Python client (`clients/python`, package `bloodbank_client`): its pytest suite runs
 * against a real gateway on RabbitMQ started here, with tokens on; the generated Pydantic
 * models it ships cannot drift from `schemas/`; its CloudEvents mapping is checked against
 * core's on cases written here; and what it published from inside a delivery is read back
 * from the bus, trace context included.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { accessConfigFromEnv, cloudEventToEnvelope, envelopeToCloudEvent } from '@33god/core';
import { generateFiles, loadSchemaTree } from '@33god/holyfields';
import { harness, json, rabbitmq, registryFile } from '../../packages/bloodbank/test/gateway/helpers.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CLIENT = resolve(ROOT, 'clients/python');
const PACKAGE = resolve(CLIENT, 'bloodbank_client');
const PRINCIPAL = 'py-client';
// The trace id the pytest suite's delivery carries (test_publish.py, TRACE_MARK).
const TRACE_MARK = '4bf92f3577b34da6a3ce929d0e0e4736';

interface Run {
  code: number | null;
  output: string;
}

/** Runs python3 without blocking this process: the gateway it talks to lives in this event loop. */
function python(args: string[], env: Record<string, string>, timeoutMs: number): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const child = spawn('python3', args, { cwd: ROOT, env: { ...process.env, ...env } });
    let output = '';
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      output += c.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, output });
    });
  });
}

/** CloudEvents mapped by core, for the Python mapping to agree with. */
function cloudEventCases(): { name: string; cloudevent: Record<string, unknown>; envelope: unknown }[] {
  const base = {
    event_id: '01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9e0f',
    event_type: 'test.event.created',
    timestamp: '2026-01-15T10:30:00.000Z',
    version: '1.0.0',
    source: { app: 'café app', host: 'box 1', trigger_type: 'cli', user_id: 'u+1&2' },
    correlation_id: '01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9e01',
    causation_id: '01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9e02',
    payload: { message: 'hello' },
  };
  const fromEnvelope = (name: string, env: Record<string, unknown>) => ({
    name,
    cloudevent: envelopeToCloudEvent(env as never) as Record<string, unknown>,
  });
  const cases: { name: string; cloudevent: Record<string, unknown> }[] = [
    fromEnvelope('envelope with every member', base),
    fromEnvelope('extensions: string, non-string, a reserved name', {
      ...base,
      traceparent: `00-${TRACE_MARK}-00f067aa0ba902b7-01`,
      meeting_id: 'm-1',
      attempt: 3,
      data: 'shadowed',
    }),
    fromEnvelope('no causation, foreign source uri', {
      ...base,
      causation_id: null,
      source: { app: 'x', host: 'unknown', trigger_type: 'api', uri: 'https://GitHub.com/org/repo' },
    }),
    {
      name: 'minimal with data_base64 and a path source',
      cloudevent: {
        specversion: '1.0',
        id: 'a',
        type: 'some.thing.happened',
        source: '/sensors/room-7',
        time: '2026-01-15T10:30:00Z',
        data_base64: Buffer.from('{"n":1}').toString('base64'),
      },
    },
    {
      name: 'urn source of another kind, no data',
      cloudevent: { specversion: '1.0', id: 'b', type: 't.x.y', source: 'urn:example:thing', time: 't' },
    },
  ];
  return cases.map((c) => ({ ...c, envelope: cloudEventToEnvelope(c.cloudevent) }));
}

/**
 * Deliveries signed here with node:crypto, as the Standard Webhooks scheme says (and as the
 * gateway's push sends them: a structured CloudEvent, webhook-id = the event id), for the
 * Python receiver to accept: the two sides agree on the bytes that are signed.
 */
function nodeSignedDeliveries(): {
  secret: string;
  timestamp: number;
  headers: Record<string, string>;
  body: string;
}[] {
  const key = randomBytes(32);
  const secret = `whsec_${key.toString('base64')}`;
  const timestamp = 1_765_000_000;
  const event = {
    event_id: '01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9e0f',
    event_type: 'test.event.created',
    timestamp: '2026-01-15T10:30:00.000Z',
    version: '1.0.0',
    source: { app: 'sender', host: 'h', trigger_type: 'api' },
    correlation_id: '01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9e01',
    causation_id: null,
    traceparent: `00-${TRACE_MARK}-00f067aa0ba902b7-01`,
    payload: { message: 'signed by node, ünïcode' },
  };
  const sign = (k: Buffer, body: string) =>
    `v1,${createHmac('sha256', k).update(`${event.event_id}.${timestamp}.${body}`).digest('base64')}`;
  const cloudEvent = JSON.stringify(envelopeToCloudEvent(event));
  const envelope = JSON.stringify(event);
  return [
    {
      secret,
      timestamp,
      body: cloudEvent,
      headers: {
        'content-type': 'application/cloudevents+json',
        'webhook-id': event.event_id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': sign(key, cloudEvent),
      },
    },
    {
      secret,
      timestamp,
      body: envelope,
      headers: {
        'content-type': 'application/json',
        'webhook-id': event.event_id,
        'webhook-timestamp': String(timestamp),
        // A rotation: the old key's signature first, then the current one.
        'webhook-signature': `${sign(randomBytes(32), envelope)} ${sign(key, envelope)}`,
      },
    },
  ];
}

describe('Python client (clients/python)', () => {
  test('the generated Pydantic models are those of schemas/ byte for byte (regenerate: npm run generate)', async () => {
    const registry = await loadSchemaTree(resolve(ROOT, 'schemas'));
    const files = generateFiles(registry, ['python'], { source: 'schemas', pythonPackage: 'events' });
    for (const [rel, content] of files) {
      assert.equal(readFileSync(join(PACKAGE, rel), 'utf8'), content, `${rel} differs: run npm run generate`);
    }
    const onDisk = readdirSync(join(PACKAGE, 'events')).filter((f) => f.endsWith('.py'));
    assert.deepEqual(onDisk.map((f) => `events/${f}`).sort(), [...files.keys()].sort());
  });

  test('pytest passes against a real gateway on RabbitMQ with tokens on', { timeout: 240_000 }, async () => {
    const token = randomBytes(32).toString('hex');
    const h = await harness(rabbitmq, {
      // The monitor's queue is shared by every gateway on the broker; this test needs none.
      deadLetterMonitor: false,
      access: accessConfigFromEnv({ AUTH_TOKENS: `${token}=${PRINCIPAL}:publish` }),
      registryPath: registryFile({ [PRINCIPAL]: ['test.#'] }),
    });
    const dir = mkdtempSync(join(tmpdir(), 'bb-python-'));
    try {
      const casesFile = join(dir, 'cloudevent-cases.json');
      writeFileSync(casesFile, JSON.stringify(cloudEventCases()));
      const deliveriesFile = join(dir, 'node-deliveries.json');
      writeFileSync(deliveriesFile, JSON.stringify(nodeSignedDeliveries()));
      const run = await python(
        ['-m', 'pytest', 'clients/python/tests', '-q', '-p', 'no:cacheprovider', '-rs'],
        {
          PYTHONPATH: [CLIENT, process.env.PYTHONPATH].filter(Boolean).join(delimiter),
          PYTHONDONTWRITEBYTECODE: '1',
          BLOODBANK_TEST_GATEWAY_URL: h.url,
          BLOODBANK_TEST_TOKEN: token,
          BLOODBANK_TEST_PRINCIPAL: PRINCIPAL,
          BLOODBANK_TEST_CLOUDEVENT_CASES: casesFile,
          BLOODBANK_TEST_NODE_DELIVERIES: deliveriesFile,
          BLOODBANK_TEST_REQUIRE_GATEWAY: '1',
        },
        200_000,
      );
      assert.equal(run.code, 0, `pytest failed:\n${run.output}`);
      assert.match(run.output, /\d+ passed/, run.output);
      assert.doesNotMatch(run.output, /skipped/, `every test must run here:\n${run.output}`);
      console.log(`pytest: ${run.output.trim().split('\n').pop()}`);

      // What the client published from inside a delivery, as the bus carried it.
      const deliveries = h.readBack.received.map(json);
      const traced = deliveries.find(
        (e) => (e.payload as Record<string, unknown>).message === 'python trace e2e',
      );
      assert.ok(traced, `no traced event among ${deliveries.length} read back`);
      const [version, traceId, spanId, flags] = String(traced.traceparent).split('-');
      assert.deepEqual([version, traceId, flags], ['00', TRACE_MARK, '01']);
      assert.match(spanId!, /^[0-9a-f]{16}$/);
      assert.notEqual(spanId, '00f067aa0ba902b7');
      assert.equal(typeof traced.causation_id, 'string');
      assert.equal((traced.source as Record<string, unknown>).app, PRINCIPAL);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      // The gateway declares its exchange's alternate (`<exchange>.unroutable`, exchange and
      // queue); the harness removes the exchange and the read-back queue.
      await h.transport.deleteQueue(`${h.exchange}.unroutable`).catch(() => {});
      await h.transport.deleteExchange(`${h.exchange}.unroutable`).catch(() => {});
      await h.close();
    }
  });
});
