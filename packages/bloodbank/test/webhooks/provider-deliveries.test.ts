// Deliveries shaped like what GitHub and Plane really send (docs: GitHub "Webhook events and
// payloads", "Validating webhook deliveries"; Plane "Webhooks" v1 and v2): events without an
// action, the form-encoded content type, header and encoding variants, names that would
// widen a routing key, big bodies, and secrets read from files.
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { webhookEventId, webhookSecret } from '../../src/webhooks/ingest.js';
import { WEBHOOK_BODY_LIMIT, WEBHOOK_BYTES_IN_FLIGHT } from '../../src/webhooks/routes.js';
import { backends, expectProblem, type Harness, harness, json, rand } from '../gateway/helpers.js';

const T = { timeout: 60_000 };
const PLANE_SECRET = 'plane-secret-123';
const GITHUB_SECRET = 'github-secret-456';
const secrets = { webhookSecrets: { plane: PLANE_SECRET, github: GITHUB_SECRET } };

const hmac = (secret: string, body: string | Buffer) =>
  createHmac('sha256', secret).update(body).digest('hex');
const bodyKey = (body: string | Buffer) => `sha256:${createHash('sha256').update(body).digest('hex')}`;

async function github(
  h: Harness,
  event: string,
  body: string | Buffer,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${h.url}/webhooks/github`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-hub-signature-256': `sha256=${hmac(GITHUB_SECRET, body)}`,
      'x-github-event': event,
      'x-github-delivery': crypto.randomUUID(),
      ...headers,
    },
    body,
  });
}

async function plane(h: Harness, payload: unknown): Promise<Response> {
  const body = JSON.stringify(payload);
  return fetch(`${h.url}/webhooks/plane`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-plane-signature': hmac(PLANE_SECRET, body),
      'x-plane-delivery': crypto.randomUUID(),
    },
    body,
  });
}

async function accepted(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  assert.equal(res.status, 202, text);
  return JSON.parse(text);
}

const ping = () => ({
  zen: 'Keep it logically awesome.',
  hook_id: 109948940,
  hook: { type: 'Repository', id: 109948940, active: true, events: ['*'], config: { content_type: 'json' } },
  repository: { full_name: 'o/r' },
  sender: { login: 'octocat' },
});

for (const backend of backends) {
  describe(`webhook deliveries as providers send them (${backend.name})`, () => {
    test('GitHub ping and events without an action are named without an empty last word', T, async () => {
      const h = await harness(backend, secrets);
      try {
        const bodies: [string, unknown, string][] = [
          ['ping', ping(), 'webhook.github.ping'],
          ['push', { ref: 'refs/heads/main', before: 'a', after: 'b', commits: [] }, 'webhook.github.push'],
          ['create', { ref: `v${rand()}`, ref_type: 'tag' }, 'webhook.github.create'],
          ['delete', { ref: `b${rand()}`, ref_type: 'branch' }, 'webhook.github.delete'],
          // release has an action: control, named as before
          [
            'release',
            { action: 'published', release: { tag_name: 'v1' } },
            'webhook.github.release.published',
          ],
        ];
        for (const [event, body, type] of bodies) {
          const answer = await accepted(await github(h, event, JSON.stringify(body)));
          assert.equal(answer.event_type, type);
        }
        const got = await h.readBack.take(bodies.length);
        assert.deepEqual(
          got.map((d) => d.routingKey),
          bodies.map(([, , type]) => type),
        );
        for (const d of got) assert.doesNotMatch(d.routingKey, /\.$|\.\.|undefined/);
        assert.deepEqual(json(got[0]!).payload, ping());
      } finally {
        await h.close();
      }
    });

    test(
      'GitHub form-encoded deliveries: verified over the raw form, published as the payload field',
      T,
      async () => {
        const h = await harness(backend, secrets);
        try {
          const payload = { action: 'opened', issue: { number: 3, title: `a+b & c=d 🎉 ${rand()}` } };
          const form = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
          const formType = { 'content-type': 'application/x-www-form-urlencoded' };
          const answer = await accepted(await github(h, 'issues', form, formType));
          assert.equal(answer.event_type, 'webhook.github.issues.opened');
          // The key is what was signed: the form's bytes.
          assert.equal(answer.event_id, webhookEventId('github', bodyKey(form)));
          const [d] = await h.readBack.take(1);
          assert.deepEqual(json(d!).payload, payload);
          // `+` is a space in a form: a form-encoder's own output decodes to the same JSON.
          const plus = new URLSearchParams({ payload: JSON.stringify({ ...payload, n: 'x y' }) }).toString();
          assert.match(plus, /\+/);
          await accepted(await github(h, 'issues', plus, formType));
          assert.equal((json((await h.readBack.take(2))[1]!).payload as { n: string }).n, 'x y');
          // A signature over the JSON instead of the form does not verify.
          await expectProblem(
            await github(h, 'issues', form, {
              ...formType,
              'x-hub-signature-256': `sha256=${hmac(GITHUB_SECRET, JSON.stringify(payload))}`,
            }),
            401,
            'WEBHOOK_SIGNATURE_INVALID',
          );
          await expectProblem(await github(h, 'issues', 'hook=1', formType), 422, 'WEBHOOK_PAYLOAD_INVALID');
          // Plane posts JSON only: a form body says what to configure.
          const planeForm = `payload=${encodeURIComponent(JSON.stringify({ event: 'issue', action: 'created', data: {} }))}`;
          const refused = await fetch(`${h.url}/webhooks/plane`, {
            method: 'POST',
            headers: { ...formType, 'x-plane-signature': hmac(PLANE_SECRET, planeForm) },
            body: planeForm,
          });
          const doc = await expectProblem(refused, 415, 'UNSUPPORTED_MEDIA_TYPE');
          assert.match(doc.detail ?? '', /application\/json/);
          assert.equal(await h.readBack.settle(), 2);
        } finally {
          await h.close();
        }
      },
    );

    test('content-type parameters, header case, uppercase hex, a BOM and non-ASCII text', T, async () => {
      const h = await harness(backend, secrets);
      try {
        const issue = (n: number, title = 'plain') =>
          JSON.stringify({ action: 'opened', issue: { number: n, title: `${title} ${rand()}` } });
        await accepted(
          await github(h, 'issues', issue(1), { 'content-type': 'application/json; charset=utf-8' }),
        );
        await accepted(
          await github(h, 'issues', issue(2), { 'content-type': 'Application/JSON ; Charset="UTF-8"' }),
        );
        const upper = issue(3);
        await accepted(
          await fetch(`${h.url}/webhooks/github`, {
            method: 'POST',
            headers: {
              'Content-Type': 'application/json',
              'X-Hub-Signature-256': `sha256=${hmac(GITHUB_SECRET, upper).toUpperCase()}`,
              'X-GitHub-Event': 'issues',
            },
            body: upper,
          }),
        );
        const text = issue(4);
        const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]);
        await accepted(await github(h, 'issues', bom));
        const emoji = issue(5, 'Fix 🎉 ünïcödé 日本語 — “quotes”');
        await accepted(await github(h, 'issues', emoji));
        const got = await h.readBack.take(5);
        assert.deepEqual(json(got[3]!).payload, JSON.parse(text));
        assert.deepEqual(json(got[4]!).payload, JSON.parse(emoji));
        // Control: bytes that are not UTF-8 are refused, not published with U+FFFD in them.
        const latin1 = Buffer.from('{"action":"opened","title":"caf\xe9"}', 'latin1');
        await expectProblem(await github(h, 'issues', latin1), 400, 'MALFORMED_JSON');
        assert.equal(await h.readBack.settle(), 5);
      } finally {
        await h.close();
      }
    });

    test(
      'an X-GitHub-Event or action that would add words or wildcards to the routing key: 422',
      T,
      async () => {
        const h = await harness(backend, secrets);
        try {
          const body = (tag: string) => JSON.stringify({ action: 'opened', tag, n: rand() });
          // Lowercased (a label, not a new word): control.
          assert.equal(
            (await accepted(await github(h, 'Issues', body('case')))).event_type,
            'webhook.github.issues.opened',
          );
          for (const event of ['issues.#', 'issues.*', '#', '*', 'push.opened', 'a..b', '..', 'ünï', '-x']) {
            const doc = await expectProblem(
              await github(h, event, body(event)),
              422,
              'WEBHOOK_PAYLOAD_INVALID',
            );
            assert.match(doc.detail ?? '', /x-github-event/, event);
          }
          const unnamed = await expectProblem(
            await github(h, ' ', body('blank')),
            422,
            'WEBHOOK_PAYLOAD_INVALID',
          );
          assert.match(unnamed.detail ?? '', /cannot tell which github event/);
          for (const action of ['closed.#', 'a.b', '*']) {
            const doc = await expectProblem(
              await github(h, 'issues', JSON.stringify({ action, n: rand() })),
              422,
              'WEBHOOK_PAYLOAD_INVALID',
            );
            assert.match(doc.detail ?? '', /'action'/);
          }
          assert.equal(await h.readBack.settle(), 1);
        } finally {
          await h.close();
        }
      },
    );

    test('Plane v1 entities, v2 names, odd names lowercased or refused, missing event', T, async () => {
      const h = await harness(backend, secrets);
      try {
        const v1 = (event: string, action: string) => ({
          event,
          action,
          webhook_id: 'wh-1',
          workspace_id: 'ws-1',
          data: { id: `${event}-${rand()}`, name: 'Nom 🎯' },
          activity: { actor: { id: 'u1', display_name: 'Jane' } },
        });
        const named: [unknown, string][] = [
          [v1('issue', 'created'), 'webhook.plane.issue.created'],
          [v1('issue', 'deleted'), 'webhook.plane.issue.deleted'],
          [v1('project', 'updated'), 'webhook.plane.project.updated'],
          [v1('cycle', 'created'), 'webhook.plane.cycle.created'],
          [v1('module', 'deleted'), 'webhook.plane.module.deleted'],
          [v1('issue_comment', 'created'), 'webhook.plane.issue_comment.created'],
          // Plane's docs also show present-tense v1 actions.
          [v1('project', 'update'), 'webhook.plane.project.update'],
          // A label with capitals and spaces: lowercased, spaces as `_`.
          [v1('Issue', 'Added To Cycle'), 'webhook.plane.issue.added_to_cycle'],
          [
            { event: 'workitem_comment.created', delivery_id: crypto.randomUUID(), data: { id: rand() } },
            'webhook.plane.workitem_comment.created',
          ],
          // v2 may repeat the action: the dotted name is complete, nothing is appended.
          [
            {
              event: 'workitem.updated',
              action: 'updated',
              delivery_id: crypto.randomUUID(),
              data: { id: rand() },
            },
            'webhook.plane.workitem.updated',
          ],
        ];
        for (const [payload, type] of named) {
          assert.equal((await accepted(await plane(h, payload))).event_type, type);
        }
        assert.deepEqual(
          (await h.readBack.take(named.length)).map((d) => d.routingKey),
          named.map(([, type]) => type),
        );
        const refused: [unknown, RegExp][] = [
          [v1('issue', 'state.changed'), /'action'/],
          [v1('issue', '#'), /'action'/],
          [v1('*', 'created'), /'event'/],
          [v1('issue.#', 'created'), /'event'/],
          [{ event: 'workitem..created', data: {} }, /'event'/],
          [{ action: 'created', data: { id: 1 } }, /cannot tell which plane event/],
        ];
        for (const [payload, detail] of refused) {
          const doc = await expectProblem(await plane(h, payload), 422, 'WEBHOOK_PAYLOAD_INVALID');
          assert.match(doc.detail ?? '', detail);
        }
        assert.equal(await h.readBack.settle(), named.length);
      } finally {
        await h.close();
      }
    });

    test(
      `webhook bodies up to ${WEBHOOK_BODY_LIMIT} bytes are taken; larger ones get 413 problem+json`,
      T,
      async () => {
        // The general limit stays small: webhooks have their own.
        const h = await harness(backend, { ...secrets, bodyLimit: 64 * 1024 });
        try {
          const commits = Array.from({ length: 2000 }, (_, i) => ({
            id: createHash('sha1').update(`${i}`).digest('hex'),
            message: `commit ${i} ${'m'.repeat(800)}`,
            added: [`src/file-${i}.ts`],
          }));
          const push = JSON.stringify({ ref: 'refs/heads/main', before: 'a', after: rand(), commits });
          assert.ok(push.length > 1.5 * 1024 * 1024);
          await accepted(await github(h, 'push', push));
          const [d] = await h.readBack.take(1, 15_000);
          assert.equal((json(d!).payload as { commits: unknown[] }).commits.length, 2000);
          // Control: the general limit still applies to everything else.
          await expectProblem(
            await h.post('/events', { event_type: 'x.y.z', payload: { blob: 'b'.repeat(70 * 1024) } }),
            413,
            'BODY_TOO_LARGE',
          );

          const over = Buffer.alloc(WEBHOOK_BODY_LIMIT + 1, 0x20);
          over.write('{"ref":"x"}');
          const sized = await github(h, 'push', over);
          await expectProblem(sized, 413, 'BODY_TOO_LARGE');
          // Sent in chunks without a Content-Length: the same answer, not a reset connection.
          const chunked = await fetch(`${h.url}/webhooks/github`, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'x-hub-signature-256': `sha256=${hmac(GITHUB_SECRET, over)}`,
              'x-github-event': 'push',
            },
            body: new ReadableStream({
              start(c) {
                for (let i = 0; i < over.length; i += 1 << 20) c.enqueue(over.subarray(i, i + (1 << 20)));
                c.close();
              },
            }),
            duplex: 'half',
          } as RequestInit);
          await expectProblem(chunked, 413, 'BODY_TOO_LARGE');
          assert.equal(await h.readBack.settle(), 1);
        } finally {
          await h.close();
        }
      },
    );

    test(
      `webhook bodies received at once are bounded (${WEBHOOK_BYTES_IN_FLIGHT} bytes): past it 503 before the body is read`,
      T,
      async () => {
        const h = await harness(backend, secrets);
        const { hostname, port } = new URL(h.url);
        const sockets: Socket[] = [];
        /** A delivery announcing a full-size body, of which only the first bytes ever come. */
        const held = async (): Promise<{ socket: Socket; answer: () => string }> => {
          const socket = connect(Number(port), hostname);
          sockets.push(socket);
          let got = '';
          socket.on('data', (d) => {
            got += d.toString();
          });
          socket.on('error', () => {});
          await new Promise((r) => socket.once('connect', r));
          socket.write(
            `POST /webhooks/github HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\n` +
              `Content-Length: ${WEBHOOK_BODY_LIMIT}\r\nX-GitHub-Event: push\r\nX-Hub-Signature-256: sha256=00\r\n\r\n{"ref":`,
          );
          return { socket, answer: () => got };
        };
        const refused = async (d: { answer: () => string }) => {
          const deadline = Date.now() + 10_000;
          while (!d.answer().includes('\r\n\r\n') && Date.now() < deadline)
            await new Promise((r) => setTimeout(r, 20));
          assert.match(d.answer(), /^HTTP\/1\.1 503 /, d.answer());
          assert.match(d.answer(), /retry-after: \d+/i);
          assert.match(d.answer(), /SERVICE_UNAVAILABLE/);
        };
        try {
          const fits = Math.floor(WEBHOOK_BYTES_IN_FLIGHT / WEBHOOK_BODY_LIMIT);
          const first = [];
          for (let i = 0; i < fits; i++) first.push(await held());
          await refused(await held());
          // Control: a delivery that fits in what is left goes through meanwhile.
          await accepted(await github(h, 'push', JSON.stringify({ ref: `refs/heads/${rand()}` })));
          // One held delivery gives up: its bytes are free again, so the next full-size one is
          // taken (it waits for its body) and only the one after it is refused.
          first[0]!.socket.destroy();
          await new Promise((r) => setTimeout(r, 200));
          const taken = await held();
          await refused(await held());
          assert.equal(taken.answer(), '', 'the delivery that fits was answered before its body came');
          assert.equal(await h.readBack.settle(), 1);
        } finally {
          for (const s of sockets) s.destroy();
          await h.close();
        }
      },
    );

    test('a secret read with its trailing newline still verifies; other characters are kept', T, async () => {
      const h = await harness(backend, {
        webhookSecrets: { github: `${GITHUB_SECRET}\n`, plane: `${PLANE_SECRET} \r\n` },
      });
      try {
        await accepted(await github(h, 'issues', JSON.stringify({ action: 'opened', n: rand() })));
        // Control: the space before the line ending is part of the secret.
        const body = JSON.stringify({ event: 'issue', action: 'created', data: { id: rand() } });
        const sign = (secret: string) =>
          fetch(`${h.url}/webhooks/plane`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-plane-signature': hmac(secret, body) },
            body,
          });
        await expectProblem(await sign(PLANE_SECRET), 401, 'WEBHOOK_SIGNATURE_INVALID');
        await accepted(await sign(`${PLANE_SECRET} `));
        assert.equal(await h.readBack.settle(), 2);
      } finally {
        await h.close();
      }
      // A secret that is only a line ending is no secret: the provider answers 503.
      assert.equal(webhookSecret('\n'), undefined);
      assert.equal(webhookSecret('s3\r\n\n'), 's3');
      assert.equal(webhookSecret(' s3 '), ' s3 ');
    });
  });
}
