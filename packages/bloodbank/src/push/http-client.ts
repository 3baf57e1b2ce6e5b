import http from 'node:http';
import https from 'node:https';

/** What the worker keeps of an endpoint's answer. */
export interface HttpAnswer {
  readonly status: number;
  readonly retryAfter: string | undefined;
  /** The first `keepBodyBytes` of the body, as text (for the dead-letter reason). */
  readonly body: string;
}

/** No complete answer within the timeout (connect, request and the whole answer). */
export class HttpTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = 'HttpTimeoutError';
  }
}

export interface PushHttpClientOptions {
  /** Connections kept to the endpoint (the subscription's concurrency). */
  readonly maxSockets: number;
  readonly timeoutMs: number;
  /** Body bytes kept for the reason. Default 1024. */
  readonly keepBodyBytes?: number;
  /** Body bytes read at most; a longer answer closes its connection. Default 64 KiB. */
  readonly maxBodyBytes?: number;
}

/**
 * POSTs to one endpoint over keep-alive connections (node:http, which never follows
 * redirects: a 3xx is an answer like any other). Every exchange is bounded in time and in
 * the bytes read: the body is drained up to `maxBodyBytes` so the connection can be reused,
 * and a longer one is cut off with its connection.
 */
export class PushHttpClient {
  readonly #target: http.RequestOptions;
  readonly #agent: http.Agent;
  readonly #request: typeof http.request;
  readonly #timeoutMs: number;
  readonly #keep: number;
  readonly #max: number;

  constructor(url: URL, options: PushHttpClientOptions) {
    const tls = url.protocol === 'https:';
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets, scheduling: 'lifo' as const };
    this.#agent = tls ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    // Resolved once: the URL is fixed, and parsing it per request shows in a profile.
    this.#target = {
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port || (tls ? 443 : 80),
      path: `${url.pathname}${url.search}`,
      method: 'POST',
      agent: this.#agent,
      ...(url.username || url.password
        ? { auth: `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` }
        : {}),
    };
    this.#request = tls ? https.request : http.request;
    this.#timeoutMs = options.timeoutMs;
    this.#keep = options.keepBodyBytes ?? 1024;
    this.#max = Math.max(this.#keep, options.maxBodyBytes ?? 64 * 1024);
  }

  /** Sends one POST; `headers` is completed in place with the content length. */
  post(headers: Record<string, string>, body: Buffer): Promise<HttpAnswer> {
    return new Promise<HttpAnswer>((resolve, reject) => {
      let done = false;
      const finish = (error: Error | null, answer?: HttpAnswer) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(answer!);
      };
      headers['content-length'] = String(body.length);
      // The fixed options copied member by member (a spread per request shows in a profile).
      const t = this.#target;
      const options: http.RequestOptions = {
        protocol: t.protocol,
        hostname: t.hostname,
        port: t.port,
        path: t.path,
        method: 'POST',
        agent: this.#agent,
        headers,
      };
      if (t.auth !== undefined) options.auth = t.auth;
      const req = this.#request(options, (res) => {
        const keep = this.#keep;
        const max = this.#max;
        // Most answers (a 2xx) have no body: nothing is collected until a chunk comes.
        let kept: Buffer[] | null = null;
        let keptBytes = 0;
        let read = 0;
        const answer = (): HttpAnswer => ({
          status: res.statusCode ?? 0,
          retryAfter: res.headers['retry-after'],
          body: kept === null ? '' : Buffer.concat(kept).toString('utf8'),
        });
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (keptBytes < keep) {
            const part = chunk.subarray(0, keep - keptBytes);
            if (kept === null) kept = [part];
            else kept.push(part);
            keptBytes += part.length;
          }
          if (read > max) {
            // Enough: the status is known; the rest is not worth a connection's time.
            finish(null, answer());
            res.destroy();
          }
        });
        res.on('end', () => finish(null, answer()));
        res.on('error', finish);
        res.on('close', () => {
          if (!res.complete) finish(new Error('the endpoint closed the connection mid-answer'));
        });
      });
      const timer = setTimeout(() => {
        const error = new HttpTimeoutError(this.#timeoutMs);
        finish(error);
        req.destroy(error);
      }, this.#timeoutMs);
      req.on('error', finish);
      req.end(body);
    });
  }

  /** Closes the kept connections. */
  close(): void {
    this.#agent.destroy();
  }
}
