import { topicMatches } from '@33god/core';
import { GENERATED_HEADER } from '../generate/typescript.js';
import {
  consumersOf,
  producersOf,
  type ServiceDefinition,
  type ServiceRegistry,
} from '../registry/service-registry.js';
import type { EventSchemaInfo, SchemaRegistry } from '../schema/registry.js';

export interface CatalogEntry {
  eventType: string;
  version: number;
  kind: 'envelope' | 'payload';
  file: string;
  title?: string;
  description?: string;
  schema: unknown;
  example?: unknown;
  producers: string[];
  consumers: string[];
  /** Consumers fed by an HTTP push subscription, with the endpoint (scheme, host and path only). */
  push: { service: string; url: string }[];
}

/** Who publishes and who receives each event type, by topic-pattern match against the registry. */
export function catalogEntries(schemas: SchemaRegistry, services?: ServiceRegistry): CatalogEntry[] {
  return schemas.list().map((info) => {
    const e: CatalogEntry = {
      eventType: info.eventType,
      version: info.version,
      kind: info.kind,
      file: info.file,
      schema: info.schema,
      producers: services ? ids(servicesFor(services, info, producersOf, 'produces')) : [],
      consumers: services ? ids(servicesFor(services, info, consumersOf, 'consumes')) : [],
      push: [],
    };
    if (services) {
      for (const s of servicesFor(services, info, consumersOf, 'consumes'))
        if (s.push) e.push.push({ service: s.id, url: endpointOf(s.push.url) });
      e.push.sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
    }
    if (info.title) e.title = info.title;
    if (info.description) e.description = info.description;
    if (info.examples.length > 0) e.example = info.examples[0];
    return e;
  });
}

/** A push URL as the catalog shows it: credentials, query and fragment may hold tokens. */
function endpointOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

function ids(list: ServiceDefinition[]): string[] {
  return list.map((s) => s.id).sort();
}

/** For a wildcard schema (`webhook.github.#`), services whose patterns overlap the schema's pattern. */
function servicesFor(
  reg: ServiceRegistry,
  info: EventSchemaInfo,
  exact: (r: ServiceRegistry, t: string) => ServiceDefinition[],
  side: 'produces' | 'consumes',
): ServiceDefinition[] {
  if (!info.eventType.includes('#') && !info.eventType.includes('*')) return exact(reg, info.eventType);
  const probe = info.eventType.replaceAll('#', 'x').replaceAll('*', 'x');
  return reg.services.filter((s) => {
    const patterns = side === 'produces' ? s.produces : [...s.routingKeys, ...s.consumes];
    return patterns.some((p) => p === info.eventType || topicMatches(p, probe));
  });
}

function esc(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

function anchor(t: string): string {
  return `t-${t.replace(/[^a-z0-9]+/gi, '-')}`;
}

/** A static HTML catalog: one page, every event type with its schema, an example, producers and consumers. */
export function catalogHtml(entries: readonly CatalogEntry[], title = 'Holyfields event catalog'): string {
  const list = (xs: string[]) =>
    xs.length === 0 ? '<em>none declared</em>' : xs.map((x) => `<code>${esc(x)}</code>`).join(', ');
  const sections = entries.map(
    (e) => `<section id="${anchor(`${e.eventType}-v${e.version}`)}">
<h2><code>${esc(e.eventType)}</code> <small>v${e.version} · ${e.kind} schema · ${esc(e.file)}</small></h2>
${e.title ? `<p><strong>${esc(e.title)}</strong></p>` : ''}${e.description ? `<p>${esc(e.description)}</p>` : ''}
<dl><dt>Producers</dt><dd class="producers">${list(e.producers)}</dd><dt>Consumers</dt><dd class="consumers">${list(e.consumers)}</dd>${
      e.push.length === 0
        ? ''
        : `<dt>Push subscriptions</dt><dd class="push">${e.push.map((p) => `<code>${esc(p.service)}</code> → <code>${esc(p.url)}</code>`).join(', ')}</dd>`
    }</dl>
<details open><summary>Example</summary><pre>${e.example === undefined ? 'no example in the schema' : esc(JSON.stringify(e.example, null, 2))}</pre></details>
<details><summary>Schema</summary><pre>${esc(JSON.stringify(e.schema, null, 2))}</pre></details>
</section>`,
  );
  const toc = entries
    .map(
      (e) =>
        `<li><a href="#${anchor(`${e.eventType}-v${e.version}`)}">${esc(e.eventType)}</a> v${e.version}</li>`,
    )
    .join('\n');
  return `<!doctype html>
<!-- ${GENERATED_HEADER} -->
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}pre{background:#f5f5f5;padding:.75rem;overflow:auto}section{border-top:1px solid #ddd;padding-top:1rem}small{color:#666;font-weight:normal}</style>
</head><body>
<h1>${esc(title)}</h1>
<p>${entries.length} event types.</p>
<ul>
${toc}
</ul>
${sections.join('\n')}
</body></html>
`;
}
