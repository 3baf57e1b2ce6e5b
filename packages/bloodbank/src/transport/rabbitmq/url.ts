import { AppError } from '@33god/core';

/** What the transport needs from an AMQP URL, without the password in anything printable. */
export interface BrokerAddress {
  /** The URL to hand to the client (with `heartbeat` added when absent). */
  readonly connectUrl: string;
  readonly protocol: 'amqp' | 'amqps';
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly vhost: string;
  /** `amqp://user@host:port/vhost`: safe for messages and logs. */
  readonly display: string;
}

/** Replaces the password of anything URL-like (every URL of a comma-separated list) so it can be shown. */
export function redactUrl(raw: string): string {
  return raw.replace(/(\/\/[^:/@,]*:)[^@/,]*@/g, '$1***@');
}

/**
 * Parses and checks an AMQP URL. Every problem is an INVALID_BROKER_URL error that says
 * what is wrong; the password never appears in it.
 */
export function parseAmqpUrl(raw: string, heartbeatSeconds: number): BrokerAddress {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new AppError(
      'INVALID_BROKER_URL',
      `'${redactUrl(raw)}' is not a URL; expected amqp://user:password@host:5672/vhost`,
    );
  }
  const protocol = u.protocol.replace(/:$/, '');
  if (protocol !== 'amqp' && protocol !== 'amqps') {
    throw new AppError(
      'INVALID_BROKER_URL',
      `the broker URL must start with amqp:// or amqps://, got '${protocol}://' in '${redactUrl(raw)}'`,
    );
  }
  if (u.hostname === '') {
    throw new AppError('INVALID_BROKER_URL', `the broker URL '${redactUrl(raw)}' has no host`);
  }
  const port = u.port === '' ? (protocol === 'amqps' ? 5671 : 5672) : Number(u.port);
  const user = u.username === '' && u.password === '' ? 'guest' : decodeURIComponent(u.username);
  const password = u.username === '' && u.password === '' ? 'guest' : decodeURIComponent(u.password);
  const path = u.pathname;
  const vhost = path === '' || path === '/' ? '/' : decodeURIComponent(path.slice(1));
  if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', String(heartbeatSeconds));
  return {
    connectUrl: u.toString(),
    protocol,
    host: u.hostname,
    port,
    user,
    password,
    vhost,
    display: `${protocol}://${user}@${u.hostname}:${port}/${vhost === '/' ? '' : encodeURIComponent(vhost)}`,
  };
}

/** The management API base URL: same host, port 15672 (15671 for amqps), same credentials. */
export function defaultManagementUrl(addr: BrokerAddress): string {
  const scheme = addr.protocol === 'amqps' ? 'https' : 'http';
  const port = addr.protocol === 'amqps' ? 15671 : 15672;
  const host = addr.host.includes(':') ? `[${addr.host}]` : addr.host;
  return `${scheme}://${host}:${port}`;
}

interface ErrnoLike {
  code?: unknown;
  message?: unknown;
}

/**
 * Turns a failed connection attempt into an error that names the cause (refused,
 * unknown host, timeout, bad credentials, missing vhost) without a stack or a password.
 */
export function describeConnectError(err: unknown, addr: BrokerAddress, timeoutMs: number): AppError {
  const e = (err ?? {}) as ErrnoLike;
  const code = typeof e.code === 'string' ? e.code : '';
  const msg = typeof e.message === 'string' ? e.message : '';
  const where = `${addr.host}:${addr.port}`;
  let detail: string;
  if (code === 'ECONNREFUSED') detail = `nothing accepts connections at ${where} (is RabbitMQ running?)`;
  else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    detail = `the host '${addr.host}' cannot be resolved`;
  else if (code === 'ETIMEDOUT' || /ETIMEDOUT/.test(msg))
    detail = `connecting to ${where} timed out after ${timeoutMs} ms`;
  else if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') detail = `the host ${where} is unreachable`;
  else if (code === 'ECONNRESET' || /socket closed|ECONNRESET/i.test(msg)) {
    detail = `${where} closed the connection during the AMQP handshake (is it an AMQP port${addr.protocol === 'amqps' ? ' speaking TLS' : ''}?)`;
  } else if (/ACCESS.REFUSED|403/.test(msg)) {
    detail = `the broker at ${where} refused the login of user '${addr.user}' (wrong user name or password)`;
  } else if (/NOT.ALLOWED|530|vhost|Expected ConnectionOpenOk/i.test(msg)) {
    detail = `the virtual host '${addr.vhost}' does not exist at ${where} or user '${addr.user}' may not use it`;
  } else if (/certificate|SSL|TLS|EPROTO/i.test(`${code} ${msg}`)) {
    detail = `the TLS handshake with ${where} failed (${code || 'TLS error'})`;
  } else {
    detail = `could not connect to ${addr.display}${code ? ` (${code})` : ''}`;
  }
  return new AppError('BROKER_UNAVAILABLE', detail, { cause: err });
}
