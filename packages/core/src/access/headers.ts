import type { Server, ServerResponse } from 'node:http';

/**
 * What every answer of every part carries, refusals and 404s included. `nosniff`: a browser
 * never runs a JSON or problem+json answer as a script or a page. `no-referrer`: a URL holding
 * an id or a query leaves with no link. The framing pair: no other site can put the dashboard
 * (or the API docs) in a frame and make the operator click through it. The CSP forbids only
 * what no page of ours uses (being framed, `<base>`, plugins), so it cannot block a script, a
 * style or a connection of the dashboard or the docs; a stricter policy would first have to be
 * checked against every view.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'content-security-policy': "frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
});

/**
 * Puts `SECURITY_HEADERS` on every answer of `server` (a Fastify app's `app.server`): set on
 * the response before the framework sees the request, so what the framework answers before any
 * hook (a malformed URL, a server closing) or from an error handler carries them too. A route
 * that sets one of them itself overrides it. Call once, right after creating the app.
 */
export function secureAnswers(server: Server): void {
  server.prependListener('request', (_request, response: ServerResponse) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.setHeader(name, value);
  });
}
