// The catalog names the push subscriptions that receive each event type, with their endpoint.
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { catalogEntries, catalogHtml, loadSchemaTree, parseServiceRegistry } from '../src/index.js';

const SCHEMAS = resolve(import.meta.dirname, '../../../schemas');

test('catalog: push subscriptions with their URL (no credentials or query)', async () => {
  const schemas = await loadSchemaTree(SCHEMAS);
  const services = parseServiceRegistry(
    'services:\n  watcher:\n    routing_keys: ["bloodbank.health.#"]\n    push: { url: "https://user:pw@hooks.example.test/in?token=abc" }\n',
  );
  const entries = catalogEntries(schemas, services);
  const health = entries.find((e) => e.eventType === 'bloodbank.health.status')!;
  assert.deepEqual(health.consumers, ['watcher']);
  assert.deepEqual(health.push, [{ service: 'watcher', url: 'https://hooks.example.test/in' }]);
  const other = entries.find((e) => e.eventType !== 'bloodbank.health.status')!;
  assert.deepEqual(other.push, []);
  const html = catalogHtml(entries);
  assert.match(
    html,
    /Push subscriptions<\/dt><dd class="push"><code>watcher<\/code> → <code>https:\/\/hooks\.example\.test\/in<\/code>/,
  );
  assert.ok(!html.includes('token=abc') && !html.includes('pw@'));
});
