import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createEmbeddedTransport, EmbeddedBroker, type Transport } from '@33god/bloodbank';
import { type EventEnvelope, envelopeAmqpProperties } from '@33god/core';
import WebSocket from 'ws';
import { type RunningCandystore, type StoredEvent, startCandystore } from '../src/index.js';
import { BACKENDS, envelope, json, registryWith, rid, waitFor } from './helpers.js';

interface Page {
  items: StoredEvent[];
  next_cursor: string | null;
  prev_cursor: string | null;
}

for (const backend of BACKENDS) {
  describe(`HTTP API (${backend.name}, embedded broker)`, { timeout: 90_000 }, () => {
    let svc: RunningCandystore;
    let transport: Transport;
    let teardown: () => Promise<void>;
    const exchange = `test.${rid()}.events`;
    const queue = `test.${rid()}.candystore`;
    const corr = envelope('test.chain.started').event_id;
    // replays may publish to the main exchange and to registry queues; the store's registry
    // lists a queue the tests declare and one nobody declares
    const replayTarget = `test.${rid()}.target`;
    const undeclaredTarget = `test.${rid()}.undeclared`;
    const stored: EventEnvelope[] = [];

    const get = async (path: string) => {
      const res = await fetch(`${svc.url}${path}`);
      const text = await res.text();
      return {
        status: res.status,
        type: res.headers.get('content-type') ?? '',
        body: text ? JSON.parse(text) : null,
      };
    };
    const publish = (e: EventEnvelope | Buffer, routingKey?: string) =>
      transport.publish({
        exchange,
        routingKey: routingKey ?? (Buffer.isBuffer(e) ? 'test.bad.message' : e.event_type),
        body: Buffer.isBuffer(e) ? e : Buffer.from(JSON.stringify(e)),
        properties: Buffer.isBuffer(e) ? {} : envelopeAmqpProperties(e),
      });

    before(async () => {
      const s = await backend.setup();
      teardown = s.teardown;
      transport = createEmbeddedTransport({ broker: new EmbeddedBroker() });
      svc = await startCandystore({
        ...s,
        transport,
        exchange,
        queue,
        dlx: `test.${rid()}.dlx`,
        port: 0,
        host: '127.0.0.1',
        batchSize: 50,
        batchMaxWaitMs: 10,
        logLevel: 'silent',
        tailPollMs: 50,
        registry: registryWith([replayTarget, undeclaredTarget]),
        replayMaxRunning: 2,
      });
      // a chain: root → a → b, root → c, and d whose parent was never stored
      const root = envelope('test.chain.started', { step: 0 }, { correlation_id: corr, event_id: corr });
      const a = envelope(
        'test.chain.advanced',
        { step: 1, task: { id: 'abc' } },
        { correlation_id: corr, causation_id: root.event_id },
      );
      const b = envelope(
        'test.chain.finished',
        { step: 2 },
        { correlation_id: corr, causation_id: a.event_id },
      );
      const c = envelope(
        'test.chain.advanced',
        { step: 3, task: { id: 'xyz' } },
        { correlation_id: corr, causation_id: root.event_id },
      );
      const ghost = envelope('test.chain.lost').event_id;
      const d = envelope('test.chain.orphaned', { step: 4 }, { correlation_id: corr, causation_id: ghost });
      const others = Array.from({ length: 25 }, (_, i) =>
        envelope(
          i % 2 ? 'test.page.odd' : 'test.page.even',
          { i },
          { source: { app: i % 5 ? 'pager' : 'fiver', host: 'h', trigger_type: 'api' } },
        ),
      );
      for (const e of [root, a, b, c, d, ...others]) {
        stored.push(e);
        await publish(e);
      }
      await waitFor(
        async () => (await get(`/events?type=test.%23&limit=1000`)).body.items.length === stored.length,
        15_000,
        'ingest',
      );
    });
    after(async () => {
      await svc?.close();
      await transport?.close();
      await teardown?.();
    });

    test('every published event is stored once; redelivered copies are not stored again', async () => {
      for (const e of stored.slice(0, 10)) await publish(e);
      const marker = envelope('test.marker.seen');
      await publish(marker);
      await waitFor(async () => (await get(`/events/${marker.event_id}`)).status === 200, 10_000, 'marker');
      const all = (await get('/events?type=test.%23&limit=1000')).body as Page;
      assert.equal(all.items.length, stored.length + 1);
      assert.equal(new Set(all.items.map((e) => e.event_id)).size, all.items.length);
    });

    test('GET /events/:id returns the StoredEvent shape', async () => {
      const e = stored[1]!;
      const r = await get(`/events/${e.event_id}`);
      assert.equal(r.status, 200);
      const keys = Object.keys(r.body).sort();
      assert.deepEqual(keys, [
        'causation_id',
        'correlation_id',
        'event_id',
        'event_type',
        'headers',
        'payload',
        'position',
        'received_at',
        'replay_id',
        'routing_key',
        'source',
        'timestamp',
        'trace_id',
        'version',
      ]);
      assert.equal(typeof r.body.position, 'string');
      assert.equal(r.body.routing_key, e.event_type);
      assert.equal(r.body.headers['x-event-type'], e.event_type);
      assert.deepEqual(r.body.payload, e.payload);
      const missing = await get(`/events/${envelope('x.y.z').event_id}`);
      assert.equal(missing.status, 404);
      assert.match(missing.type, /application\/problem\+json/);
    });

    test('keyset pagination walks forward and back in both orders without overlap', async () => {
      for (const order of ['desc', 'asc'] as const) {
        const seen: string[] = [];
        const pages: Page[] = [];
        let page = (await get(`/events?type=test.page.*&limit=7&order=${order}`)).body as Page;
        assert.equal(page.prev_cursor, null);
        for (;;) {
          pages.push(page);
          seen.push(...page.items.map((e) => e.position));
          if (!page.next_cursor) break;
          page = (await get(`/events?type=test.page.*&limit=7&cursor=${page.next_cursor}`)).body as Page;
        }
        assert.equal(seen.length, 25);
        assert.equal(new Set(seen).size, 25);
        const sorted = [...seen].sort((x, y) => Number(BigInt(x) - BigInt(y)));
        assert.deepEqual(seen, order === 'asc' ? sorted : sorted.reverse());
        // back from the last page reproduces the pages before it
        let back = pages.at(-1)!;
        for (let i = pages.length - 2; i >= 0; i--) {
          assert.ok(back.prev_cursor, 'prev_cursor');
          back = (await get(`/events?type=test.page.*&limit=7&cursor=${back.prev_cursor}`)).body as Page;
          assert.deepEqual(
            back.items.map((e) => e.position),
            pages[i]!.items.map((e) => e.position),
          );
        }
        assert.equal(back.prev_cursor, null);
      }
    });

    test('filters: source, payload path, correlation, causation, time range', async () => {
      const fiver = (await get('/events?source=fiver&limit=100')).body as Page;
      assert.equal(fiver.items.length, 5);
      const task = (await get('/events?payload.task.id=abc')).body as Page;
      assert.deepEqual(
        task.items.map((e) => e.event_id),
        [stored[1]!.event_id],
      );
      const num = (await get('/events?payload.i=3&type=test.page.odd')).body as Page;
      assert.equal(num.items.length, 1);
      const byCorr = (await get(`/events?correlation_id=${corr}`)).body as Page;
      assert.equal(byCorr.items.length, 5);
      const byCause = (await get(`/events?causation_id=${stored[0]!.event_id}`)).body as Page;
      assert.equal(byCause.items.length, 2);
      const future = (await get('/events?since=2999-01-01T00:00:00Z')).body as Page;
      assert.equal(future.items.length, 0);
      const window = (
        await get(`/events?since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z&type=test.chain.%23`)
      ).body as Page;
      assert.equal(window.items.length, 5);
    });

    test('GET /correlations/:id builds the causation tree, the timeline and the gaps', async () => {
      const r = await get(`/correlations/${corr}`);
      assert.equal(r.status, 200);
      const body = r.body;
      assert.equal(body.count, 5);
      assert.equal(body.timeline.length, 5);
      const [root, a, b, c, d] = stored;
      const rootNode = body.roots.find((n: { event_id: string }) => n.event_id === root!.event_id);
      assert.ok(rootNode && !rootNode.missing);
      assert.deepEqual(
        rootNode.children.map((n: { event_id: string }) => n.event_id).sort(),
        [a!.event_id, c!.event_id].sort(),
      );
      const aNode = rootNode.children.find((n: { event_id: string }) => n.event_id === a!.event_id);
      assert.equal(aNode.children[0].event_id, b!.event_id);
      assert.equal(typeof aNode.delta_ms, 'number');
      const gapNode = body.roots.find((n: { missing: boolean }) => n.missing);
      assert.equal(gapNode.event, null);
      assert.equal(gapNode.event_id, d!.causation_id);
      assert.equal(gapNode.children[0].event_id, d!.event_id);
      assert.deepEqual(body.gaps, [{ missing_event_id: d!.causation_id, referenced_by: [d!.event_id] }]);
      assert.equal((await get(`/correlations/${envelope('a.b.c').event_id}`)).status, 404);
    });

    test('GET /stats counts by type and by source in buckets', async () => {
      const r = await get('/stats?bucket=3600');
      assert.equal(r.status, 200);
      assert.equal(r.body.bucket_seconds, 3600);
      assert.ok(r.body.total >= stored.length);
      const odd = r.body.by_type.filter((b: { key: string }) => b.key === 'test.page.odd');
      assert.equal(
        odd.reduce((n: number, b: { count: number }) => n + b.count, 0),
        12,
      );
      const fiver = r.body.by_source.filter((b: { key: string }) => b.key === 'fiver');
      assert.equal(
        fiver.reduce((n: number, b: { count: number }) => n + b.count, 0),
        5,
      );
      assert.ok(!Number.isNaN(Date.parse(odd[0].bucket)));
    });

    test('bad input is a 400 problem on every route, never a 500', async () => {
      const bad = [
        '/events?type=Bad..Type',
        "/events?type=x.y';DROP TABLE events;--",
        '/events?type=a.b&type=c.d',
        "/events?source=app';--",
        '/events?correlation_id=not-a-uuid',
        "/events?causation_id=1' OR '1'='1",
        '/events?since=yesterday',
        '/events?since=2026-01-01T00:00:00Z&until=2025-01-01T00:00:00Z',
        '/events?until=2026-13-45T99:00:00Z',
        '/events?limit=0',
        '/events?limit=1001',
        '/events?limit=ten',
        '/events?order=sideways',
        '/events?cursor=garbage!!',
        `/events?cursor=${Buffer.from('{"v":1,"o":"asc","d":"n","p":"1;DROP"}').toString('base64url')}`,
        `/events?cursor=${Buffer.from('{"v":1,"o":"asc","d":"n","p":"5"}').toString('base64url')}&order=desc`,
        '/events?unknown=1',
        "/events?payload.a'b=1",
        '/events?payload.=1',
        '/events?payload.a..b=1',
        '/events/not-a-uuid',
        "/events/1'%20OR%201=1",
        "/correlations/x';--",
        '/correlations/00000000-0000-0000-0000-00000000000g',
        `/correlations/${corr}?extra=1`,
        '/stats?bucket=0',
        '/stats?bucket=1&since=2000-01-01T00:00:00Z',
        '/stats?since=nope',
        '/stats?bucket=;',
        '/stats?foo=bar',
        '/replays/not-a-uuid',
      ];
      for (const path of bad) {
        const r = await get(path);
        assert.equal(r.status, 400, `${path} → ${r.status} ${JSON.stringify(r.body)}`);
        assert.match(r.type, /application\/problem\+json/, path);
        assert.equal(typeof r.body.code, 'string', path);
      }
      // payload values are data: matched literally, never interpreted
      const lit = await get(`/events?payload.task.id=${encodeURIComponent("abc' OR '1'='1")}`);
      assert.equal(lit.status, 200);
      assert.equal(lit.body.items.length, 0);
      assert.equal((await get('/events?type=test.%23&limit=1')).body.items.length, 1);
    });

    test('POST /replays rejects bad bodies with 400', async () => {
      const post = async (body: string, type = 'application/json') => {
        const res = await fetch(`${svc.url}/replays`, {
          method: 'POST',
          headers: { 'content-type': type },
          body,
        });
        return { status: res.status, type: res.headers.get('content-type') ?? '', body: await json(res) };
      };
      const cases = [
        '{',
        '{}',
        JSON.stringify({ target: {} }),
        JSON.stringify({ target: { exchange: 'x', queue: 'y' } }),
        JSON.stringify({ target: { exchange: "x';--" } }),
        JSON.stringify({ target: { queue: 'q' }, filter: { type: 'NOPE' } }),
        JSON.stringify({ target: { queue: 'q' }, filter: { nope: 1 } }),
        JSON.stringify({ target: { queue: 'q' }, filter: { correlation_id: "1' OR 1=1" } }),
        JSON.stringify({ target: { queue: 'q' }, since: 'later' }),
        JSON.stringify({ target: { queue: 'q' }, rate_per_second: -1 }),
        JSON.stringify({ target: { queue: 'q' }, extra: true }),
      ];
      for (const body of cases) {
        const r = await post(body);
        assert.equal(r.status, 400, `${body} → ${r.status} ${JSON.stringify(r.body)}`);
        assert.match(r.type, /application\/problem\+json/);
      }
      assert.equal((await post('{}', 'text/plain')).status, 415);
      const missingQueue = await post(JSON.stringify({ target: { queue: undeclaredTarget } }));
      assert.equal(missingQueue.status, 404);
      assert.equal(missingQueue.body.code, 'QUEUE_NOT_FOUND');
    });

    const postReplay = async (body: unknown) => {
      const res = await fetch(`${svc.url}/replays`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, type: res.headers.get('content-type') ?? '', body: await json(res) };
    };

    test('POST /replays publishes only to the main exchange or a registry queue (403 otherwise)', async () => {
      await transport.assertExchange('test.other.exchange', 'topic', { durable: false });
      // an existing queue and exchange: refused for what they are, not for being absent
      for (const target of [
        { queue: `${queue}.dlq` },
        { queue: `test.${rid()}.adhoc` },
        { exchange: 'test.other.exchange' },
      ]) {
        const r = await postReplay({ target });
        assert.equal(r.status, 403, JSON.stringify(r.body));
        assert.match(r.type, /application\/problem\+json/);
        assert.equal(r.body.code, 'REPLAY_TARGET_FORBIDDEN');
        assert.match(r.body.detail, new RegExp(`exchange '${exchange.replaceAll('.', '\\.')}'`));
        assert.ok(r.body.detail.includes(replayTarget), r.body.detail);
        assert.deepEqual(r.body.allowed, {
          exchanges: [exchange],
          queues: [replayTarget, undeclaredTarget].sort(),
        });
      }
    });

    test('POST /replays beyond the most running at once is 409 until one ends', async () => {
      await transport.assertQueue(replayTarget, { durable: false });
      // one event a second: both stay running while the test looks
      const slow = { target: { queue: replayTarget }, rate_per_second: 1 };
      const ids: string[] = [];
      try {
        for (let i = 0; i < 2; i++) {
          const r = await postReplay(slow);
          assert.equal(r.status, 202, JSON.stringify(r.body));
          ids.push(r.body.id);
        }
        const third = await postReplay(slow);
        assert.equal(third.status, 409);
        assert.match(third.type, /application\/problem\+json/);
        assert.equal(third.body.code, 'CONFLICT');
        assert.equal(third.body.max_running, 2);
        assert.match(third.body.detail, /2 replays are running/);
        assert.equal((await fetch(`${svc.url}/replays/${ids[0]}`, { method: 'DELETE' })).status, 200);
        const fourth = await postReplay(slow);
        assert.equal(fourth.status, 202, JSON.stringify(fourth.body));
        ids.push(fourth.body.id);
      } finally {
        for (const id of ids) await fetch(`${svc.url}/replays/${id}`, { method: 'DELETE' });
        await transport.deleteQueue(replayTarget).catch(() => {});
      }
    });

    test('health, metrics and OpenAPI', async () => {
      const h = await get('/health');
      assert.equal(h.status, 200);
      assert.equal(h.body.status, 'ok');
      assert.equal(h.body.database.ok, true);
      assert.equal(h.body.broker.ok, true);
      assert.equal(typeof h.body.ingest.lag, 'number');
      assert.ok(h.body.ingest.last_commit_at);
      const m = await fetch(`${svc.url}/metrics`);
      const text = await m.text();
      assert.match(text, /candystore_events_stored_total \d+/);
      assert.match(text, /candystore_batch_size_bucket/);
      assert.match(text, /candystore_insert_duration_seconds_bucket/);
      assert.match(text, /candystore_ingest_lag_messages/);
      const api = await get('/openapi.json');
      assert.equal(api.status, 200);
      for (const p of [
        '/events',
        '/events/{event_id}',
        '/correlations/{correlation_id}',
        '/stats',
        '/replays',
        '/health',
      ]) {
        assert.ok(api.body.paths[p], p);
      }
      const docs = await fetch(`${svc.url}/docs`);
      assert.equal(docs.status, 200);
    });

    test('invalid messages go to <queue>.dlq with the reason', async () => {
      await publish(Buffer.from('not json'));
      await publish(Buffer.from(JSON.stringify({ event_id: 'x', event_type: 'a.b' })));
      await waitFor(
        async () => ((await transport.checkQueue(`${queue}.dlq`))?.messageCount ?? 0) >= 2,
        10_000,
        'dead letters',
      );
      const letters = await transport.peek(`${queue}.dlq`, 10);
      const reasons = letters.map((d) => String(d.properties.headers?.['x-dead-letter-reason']));
      assert.ok(
        reasons.some((r) => /not JSON/.test(r)),
        reasons.join('|'),
      );
      assert.ok(
        reasons.some((r) => /event_id/.test(r)),
        reasons.join('|'),
      );
      assert.equal(letters[0]!.properties.headers?.['x-original-queue'], queue);
      assert.equal(letters[0]!.body.toString(), 'not json');
    });

    test('a persisted summary is published per batch and summaries do not cause summaries', async () => {
      const r = (await get('/events?type=candystore.event.persisted&limit=1000')).body as Page;
      assert.ok(r.items.length >= 1);
      const p = r.items[0]!.payload as {
        count: number;
        first_position: number;
        last_position: number;
        event_types: string[];
      };
      assert.ok(p.count >= 1 && p.last_position >= p.first_position && p.event_types.length >= 1);
      // quiet period: the number of summaries settles (no feedback loop)
      await new Promise((res) => setTimeout(res, 300));
      const n1 = ((await get('/events?type=candystore.event.persisted&limit=1000')).body as Page).items
        .length;
      await new Promise((res) => setTimeout(res, 300));
      const n2 = ((await get('/events?type=candystore.event.persisted&limit=1000')).body as Page).items
        .length;
      assert.equal(n1, n2);
    });

    test('GET /stream catches up, says caught_up once, then streams live events without gaps', async () => {
      const ws = new WebSocket(`${svc.url.replace('http', 'ws')}/stream?type=test.live.%23&from=0`);
      const got: { kind: string; event?: StoredEvent; position?: string }[] = [];
      ws.on('message', (m) => got.push(JSON.parse(String(m))));
      const early = envelope('test.live.before');
      await publish(early);
      await new Promise((res, rej) => {
        ws.once('open', res);
        ws.once('error', rej);
      });
      await waitFor(() => got.some((m) => m.kind === 'caught_up'), 10_000, 'caught_up');
      const live = [envelope('test.live.one'), envelope('test.other.skip'), envelope('test.live.two')];
      for (const e of live) await publish(e);
      await waitFor(() => got.filter((m) => m.kind === 'event').length >= 3, 10_000, 'live events');
      ws.close();
      const events = got.filter((m) => m.kind === 'event').map((m) => m.event!.event_type);
      assert.deepEqual(events, ['test.live.before', 'test.live.one', 'test.live.two']);
      assert.equal(got.filter((m) => m.kind === 'caught_up').length, 1);
      const bad = await fetch(`${svc.url}/stream?from=abc`);
      assert.equal(bad.status, 400);
    });

    test('GET /stream?batch=true sends a catch-up page or a commit batch as one array frame, in order', async () => {
      const old = [1, 2, 3, 4, 5].map((i) => envelope('test.framed.old', { i }));
      for (const e of old) await publish(e);
      await waitFor(
        async () => ((await get('/events?type=test.framed.old&limit=10')).body as Page).items.length === 5,
        10_000,
        'stored',
      );
      const ws = new WebSocket(
        `${svc.url.replace('http', 'ws')}/stream?type=test.framed.%23&from=0&batch=true`,
      );
      const frames: unknown[] = [];
      ws.on('message', (m) => frames.push(JSON.parse(String(m))));
      await waitFor(
        () => frames.some((f) => (f as { kind?: string }).kind === 'caught_up'),
        10_000,
        'caught_up',
      );
      // the catch-up page left as one frame: an array of the five events
      assert.ok(Array.isArray(frames[0]), 'the first frame is an array');
      const messages = () =>
        frames.flatMap((f) => (Array.isArray(f) ? f : [f])) as { kind: string; event?: StoredEvent }[];
      assert.deepEqual(
        (frames[0] as { event: StoredEvent }[]).map((m) => m.event.payload),
        old.map((e) => e.payload),
      );
      const live = [1, 2, 3].map((i) => envelope('test.framed.new', { i }));
      await Promise.all(live.map((e) => publish(e)));
      await waitFor(() => messages().filter((m) => m.kind === 'event').length >= 8, 10_000, 'live events');
      ws.close();
      const positions = messages()
        .filter((m) => m.kind === 'event')
        .map((m) => BigInt(m.event!.position));
      assert.equal(positions.length, 8, 'each event once');
      assert.deepEqual(
        positions,
        [...positions].sort((a, b) => (a < b ? -1 : 1)),
        'in position order',
      );
      assert.deepEqual(
        new Set(
          messages()
            .filter((m) => m.event?.event_type === 'test.framed.new')
            .map((m) => JSON.stringify(m.event!.payload)),
        ),
        new Set(live.map((e) => JSON.stringify(e.payload))),
      );
      const bad = await fetch(`${svc.url}/stream?batch=yes`);
      assert.equal(bad.status, 400);
      assert.match(JSON.stringify(await bad.json()), /batch/);
    });
  });
}
