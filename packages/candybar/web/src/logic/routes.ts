/**
 * Every view and filter lives in the URL hash (`#/stream?type=agent.#`), so a link can
 * be shared and the server needs no route table beyond serving index.html.
 */

export type ViewName = 'topology' | 'stream' | 'chain' | 'dead-letters' | 'schemas' | 'health';

export const VIEWS: readonly ViewName[] = [
  'topology',
  'stream',
  'chain',
  'dead-letters',
  'schemas',
  'health',
];

export interface Route {
  view: ViewName;
  /** Path parameter: correlation id (chain), event type (schemas), queue (dead letters). */
  id?: string;
  params: Record<string, string>;
}

export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, '');
  const [pathPart = '', query = ''] = raw.split('?', 2);
  const segments = pathPart.split('/').filter((s) => s.length > 0);
  const first = segments[0] as ViewName | undefined;
  const view: ViewName = first && VIEWS.includes(first) ? first : 'topology';
  const params: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(query)) if (v !== '') params[k] = v;
  const route: Route = { view, params };
  if (first === view && segments.length > 1) route.id = decodeURIComponent(segments.slice(1).join('/'));
  return route;
}

export function formatRoute(route: Route): string {
  let path = `#/${route.view}`;
  if (route.id) path += `/${encodeURIComponent(route.id)}`;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(route.params).sort(([a], [b]) => a.localeCompare(b))) {
    if (v !== undefined && v !== '') q.set(k, v);
  }
  const qs = q.toString();
  return qs ? `${path}?${qs}` : path;
}

/** The route with some params changed (empty string or undefined removes one). */
export function withParams(route: Route, changes: Record<string, string | undefined>): Route {
  const params = { ...route.params };
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === '') delete params[k];
    else params[k] = v;
  }
  return { ...route, params };
}
