import { type AddressInfo, connect as connectTcp, createServer, type Socket } from 'node:net';

/**
 * A server that is down at first: a free local port where nothing listens until `start()`,
 * which then forwards every connection to `target` (RabbitMQ, PostgreSQL, …). Tests point a
 * part at `url` to see it start without its broker or database and catch up once it is there,
 * without restarting the real service other tests share.
 */
export interface LateProxy {
  /** `target` with host and port replaced by the proxy's. */
  readonly url: string;
  /** Connections accepted so far. */
  readonly connections: number;
  start(): Promise<void>;
  /** Cuts every forwarded connection and stops listening. */
  close(): Promise<void>;
}

export async function lateProxy(target: string | URL): Promise<LateProxy> {
  const to = new URL(target);
  const toPort = Number(to.port || (to.protocol.startsWith('postgres') ? 5432 : 5672));
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((client) => {
    connections++;
    const upstream = connectTcp(toPort, to.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  const url = new URL(to);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  let listening = false;
  return {
    url: url.toString(),
    get connections() {
      return connections;
    },
    async start() {
      await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
      listening = true;
    },
    async close() {
      for (const s of sockets) s.destroy();
      if (listening) await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
