import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';

/** Is this a name or address that only the machine itself can reach? */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  // IPv4-mapped loopback (::ffff:127.0.0.1)
  return /^::ffff:127\./.test(h);
}

/** Binding every interface (`0.0.0.0`, `::`). */
export function isWildcardHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === '0.0.0.0' || h === '::' || h === '';
}

/**
 * The host part of a `Host` header or an origin's authority: `example.com:8080` → `example.com`,
 * `[::1]:3000` → `::1`. Lowercase, no trailing dot.
 */
export function hostOf(authority: string): string {
  let h = authority.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    h = end < 0 ? h.slice(1) : h.slice(1, end);
  } else {
    const colon = h.lastIndexOf(':');
    // a bare IPv6 address has several colons and no port
    if (colon >= 0 && h.indexOf(':') === colon) h = h.slice(0, colon);
  }
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/**
 * The names a request may use to reach a part listening on `host`: the address itself and,
 * on a wildcard bind, every address of the machine's interfaces and its host name.
 */
export function namesForBind(host: string): string[] {
  if (!isWildcardHost(host))
    return [hostOf(host.includes(':') && !host.startsWith('[') ? `[${host}]` : host)];
  const names = [hostname().toLowerCase()];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) names.push(a.address.toLowerCase().replace(/%.*$/, ''));
  }
  return names;
}

/** The address to print for a part bound on `host` and `port`: loopback for a wildcard bind. */
export function urlForBind(host: string, port: number): string {
  const h = isWildcardHost(host)
    ? '127.0.0.1'
    : host.includes(':') && !host.startsWith('[')
      ? `[${host}]`
      : host;
  return `http://${h}:${port}`;
}
