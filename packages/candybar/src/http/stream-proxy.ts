import type { FastifyInstance } from 'fastify';
import WebSocket from 'ws';
import { forwardedAuthorization } from './access.js';

export interface StreamProxyOptions {
  /** Candystore's base URL (http or https; the stream is the same host over ws). */
  storeUrl: string;
  /**
   * Above this many bytes queued for one slow browser, drop it: it reconnects from its last
   * position. Default 4 MiB (Candystore's own bound per socket is 8 MiB).
   */
  maxBufferedBytes?: number;
  /**
   * Above this many bytes queued for all browsers together, the one with the most queued is
   * dropped (checked every `checkMs`), until the total is under it again. Default 64 MiB: with
   * Candystore allowing 256 sockets, the per-socket bound alone would allow a gigabyte.
   */
  maxTotalBufferedBytes?: number;
  /** How often the total is checked (ms). Default 250. */
  checkMs?: number;
  /** Longest a message waits to be sent with others (ms). */
  batchMs?: number;
  /** Most messages in one frame. */
  batchMax?: number;
}

/** Close codes the browser's reconnect logic reads: both mean "try again soon". */
export const CLOSE_UPSTREAM_UNAVAILABLE = 1013;
export const CLOSE_UPSTREAM_RESTARTING = 1012;

/**
 * `GET /api/store/stream` (WebSocket): one upstream socket to Candystore's `/stream` per
 * browser socket. Each frame to the browser is one of Candystore's stream messages or a
 * JSON array of several, in order. When Candystore is down or goes away
 * the browser's socket is closed with a retry code; the page reconnects with backoff and
 * resumes from the last position it saw (the `from` query parameter).
 */
export function registerStreamProxy(app: FastifyInstance, opts: StreamProxyOptions): void {
  const wsBase = opts.storeUrl.replace(/\/+$/, '').replace(/^http/, 'ws');
  const maxBuffered = opts.maxBufferedBytes ?? 4 * 1024 * 1024;
  const clients = new SlowClients(opts.maxTotalBufferedBytes ?? 64 * 1024 * 1024, opts.checkMs ?? 250);
  app.addHook('onClose', async () => clients.stop());
  const batchMs = opts.batchMs ?? 15;
  const batchMax = opts.batchMax ?? 500;
  app.get('/api/store/stream', { websocket: true, config: { access: 'read' } }, (socket, req) => {
    const url = req.raw.url ?? '';
    const params = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
    // Candystore sends a commit batch as one array frame: fewer frames to read and re-frame here.
    params.set('batch', 'true');
    // The caller's credential, and no Origin or Cookie: the store holds Candybar to its token.
    const authorization = forwardedAuthorization(req);
    const upstream = new WebSocket(`${wsBase}/stream?${params}`, {
      handshakeTimeout: 3000,
      ...(authorization === undefined ? {} : { headers: { authorization } }),
    });
    let closed = false;
    const closeClient = (code: number, reason: string) => {
      if (closed) return;
      closed = true;
      clients.delete(socket);
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) {
        socket.close(code, reason.slice(0, 120));
      }
    };
    // Messages are coalesced into one JSON-array frame per few milliseconds: at thousands of
    // events per second, one browser task per frame (not per event) is what keeps the page idle.
    // `batch` holds message texts and array-frame bodies (the text between the brackets);
    // `messages` counts the messages in them.
    let batch: string[] = [];
    let messages = 0;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const dropSlow = () => {
      batch = [];
      closeClient(CLOSE_UPSTREAM_UNAVAILABLE, 'client too slow; reconnect from the last position');
      upstream.terminate();
    };
    clients.add(socket, dropSlow);
    const flush = () => {
      if (timer) clearTimeout(timer);
      timer = null;
      const n = messages;
      messages = 0;
      if (batch.length === 0 || socket.readyState !== WebSocket.OPEN) {
        batch = [];
        return;
      }
      if (socket.bufferedAmount > maxBuffered) {
        dropSlow();
        return;
      }
      socket.send(n === 1 ? batch[0]! : `[${batch.join(',')}]`);
      batch = [];
    };
    upstream.on('message', (data, isBinary) => {
      if (isBinary) return; // the stream protocol is JSON text
      const text = data.toString();
      if (text.startsWith('[')) {
        const body = text.slice(1, -1);
        if (body === '') return;
        batch.push(body);
        messages += 2; // at least two: the store sends a lone message as an object
      } else {
        batch.push(text);
        messages++;
      }
      if (messages >= batchMax) flush();
      else timer ??= setTimeout(flush, batchMs);
    });
    upstream.on('unexpected-response', (_r, res) => {
      closeClient(CLOSE_UPSTREAM_UNAVAILABLE, `Candystore answered ${res.statusCode} to the stream request`);
      upstream.terminate();
    });
    upstream.on('error', () => {
      closeClient(CLOSE_UPSTREAM_UNAVAILABLE, 'Candystore is not reachable');
    });
    upstream.on('close', (code, reason) => {
      // Pass on a normal close (e.g. a bad filter the store rejected); anything else is a restart.
      if (code === 1000 || (code >= 4000 && code < 5000)) closeClient(code, reason.toString());
      else closeClient(CLOSE_UPSTREAM_RESTARTING, 'Candystore stream ended');
    });
    socket.on('close', () => {
      closed = true;
      clients.delete(socket);
      if (timer) clearTimeout(timer);
      if (upstream.readyState === WebSocket.CONNECTING) upstream.terminate();
      else upstream.close();
    });
    socket.on('error', () => upstream.terminate());
  });
}

/**
 * The browsers' sockets with what each has queued: every `checkMs`, while the total is over
 * `maxTotal`, the socket with the most queued is dropped. Checked on a timer rather than per
 * frame: per frame it would cost a pass over every socket at every flush of every socket.
 */
class SlowClients {
  readonly #drop = new Map<WebSocket, () => void>();
  readonly #maxTotal: number;
  readonly #checkMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(maxTotal: number, checkMs: number) {
    this.#maxTotal = maxTotal;
    this.#checkMs = checkMs;
  }

  add(socket: WebSocket, drop: () => void): void {
    this.#drop.set(socket, drop);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#check(), this.#checkMs);
      this.#timer.unref();
    }
  }

  delete(socket: WebSocket): void {
    this.#drop.delete(socket);
    if (this.#drop.size === 0) this.stop();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #check(): void {
    let total = 0;
    for (const socket of this.#drop.keys()) total += socket.bufferedAmount;
    while (total > this.#maxTotal && this.#drop.size > 0) {
      let largest: WebSocket | undefined;
      for (const socket of this.#drop.keys()) {
        if (largest === undefined || socket.bufferedAmount > largest.bufferedAmount) largest = socket;
      }
      total -= largest!.bufferedAmount;
      const drop = this.#drop.get(largest!)!;
      this.#drop.delete(largest!);
      drop();
    }
    if (this.#drop.size === 0) this.stop();
  }
}
