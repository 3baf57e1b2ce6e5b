import { AppError, isAppError } from '@33god/core';
import amqplib from 'amqplib';
import { StateListeners } from '../inflight.js';
import type { TransportState } from '../transport.js';
import type { NodeList } from './nodes.js';
import { type BrokerAddress, describeConnectError } from './url.js';

export interface ConnectionOptions {
  readonly nodes: NodeList;
  readonly connectTimeoutMs: number;
  /**
   * How long `Recovery.restore` may take on a new connection before that node is given up for
   * the next: a node that accepts connections but does not answer declarations (booting,
   * overloaded, on the minority side of a partition) must not hold the transport.
   */
  readonly restoreTimeoutMs: number;
  /**
   * Reconnect backoff: the first delay for each node of a round, ×2 for each round in which
   * every node failed (±20 % jitter), up to `max`. With one node: ×2 per failed attempt.
   */
  readonly backoff: { readonly initial: number; readonly max: number };
  readonly connectionName: string;
  /** A failed first connection keeps retrying in the background instead of rejecting. */
  readonly retryInitialConnect: boolean;
}

/** What the rest of the transport does when a connection comes and goes. */
export interface Recovery {
  /**
   * Runs on every new connection before it is reported `connected`: re-declare what the
   * transport owns, reopen the publish channel, resume the consumers, naming each step with
   * `step` (a failure or a timeout says where it stopped). A rejection abandons that
   * connection and the next attempt starts over.
   */
  restore(conn: amqplib.ChannelModel, step: (what: string) => void): Promise<void>;
  /** The connection is gone: fail what waited on it and forget its channels. */
  lost(): void;
}

/** An AMQP reply code carried by an amqplib error. */
export const amqpCode = (err: unknown): number | undefined => {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'number' ? c : undefined;
};

export const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * A classic durable queue whose node is down (in a cluster): the broker answers 404 for it,
 * but it exists and comes back with its node. Quorum queues never answer this.
 */
export const homeNodeDown = (err: unknown): boolean => {
  const e = isAppError(err) ? err.cause : err;
  return amqpCode(e) === 404 && /home node .* is down or inaccessible/.test(errText(e));
};

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

/** What the restore timer rejects with: told apart from any error the restore itself throws. */
const RESTORE_TIMED_OUT = Symbol('restore timed out');

/**
 * One AMQP connection at a time, to one node of the list, and its repair: after a loss the
 * next node is tried, with the backoff, until one accepts and `Recovery.restore` succeeds on
 * it. Every step is reported through `onStateChange`; `node` says where it is.
 */
export class Connection {
  readonly #o: ConnectionOptions;
  readonly #recovery: Recovery;
  readonly #listeners = new StateListeners<TransportState>();
  #state: TransportState = 'connecting';
  #lastError: string | undefined;
  #conn: amqplib.ChannelModel | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #attempt = 0;

  constructor(options: ConnectionOptions, recovery: Recovery) {
    this.#o = options;
    this.#recovery = recovery;
  }

  get state(): TransportState {
    return this.#state;
  }

  /** The open connection, if any (also while it is being restored). */
  get current(): amqplib.ChannelModel | undefined {
    return this.#conn;
  }

  /** Why the connection was lost or the last attempt failed; unset while connected. */
  get lastError(): string | undefined {
    return this.#state === 'connected' ? undefined : this.#lastError;
  }

  /** The node connected to, or being connected to while reconnecting. */
  get node(): BrokerAddress {
    return this.#o.nodes.current;
  }

  onStateChange(listener: (state: TransportState, error?: Error) => void): () => void {
    return this.#listeners.add(listener);
  }

  #setState(state: TransportState, error?: Error): void {
    if (error) this.#lastError = error.message;
    if (this.#state === state) return;
    this.#state = state;
    this.#listeners.emit(state, error);
  }

  /**
   * The first connection: each node once, in order. With every node down it rejects with the
   * cause (one node: exactly its error), or, with `retryInitialConnect`, reports
   * `disconnected` and keeps trying in the background.
   */
  async start(): Promise<void> {
    const failures: { addr: BrokerAddress; err: unknown }[] = [];
    for (let i = 0; i < this.#o.nodes.nodes.length; i++) {
      const addr = i === 0 ? this.#o.nodes.current : this.#o.nodes.advance();
      try {
        await this.#connect(addr);
        this.#setState('connected');
        return;
      } catch (err) {
        failures.push({ addr, err });
      }
    }
    const err = failures.length === 1 ? failures[0]!.err : this.#noNodeError(failures);
    if (!this.#o.retryInitialConnect) throw err;
    this.#setState('disconnected', asError(err));
    this.#attempt = 0;
    this.#scheduleReconnect();
  }

  #noNodeError(failures: { addr: BrokerAddress; err: unknown }[]): AppError {
    const causes = failures.map(({ addr, err }) => `${addr.display}: ${errText(err)}`).join('; ');
    return new AppError(
      'BROKER_UNAVAILABLE',
      `none of the ${failures.length} broker nodes answered (${causes})`,
      {
        cause: failures[0]?.err,
      },
    );
  }

  async #connect(addr: BrokerAddress): Promise<void> {
    let conn: amqplib.ChannelModel;
    try {
      conn = await amqplib.connect(addr.connectUrl, {
        timeout: this.#o.connectTimeoutMs,
        // Nagle's algorithm off: writes are already coalesced per tick (coalesceWrites), and
        // with it on, a small write (an ack, a publish) behind an unacknowledged one waits for
        // the broker's delayed TCP ACK, up to 40 ms: on a connection that both publishes and
        // consumes, a confirm's p90 was 40 ms with Nagle on and 0.5 ms with it off.
        noDelay: true,
        clientProperties: { connection_name: this.#o.connectionName },
      });
    } catch (err) {
      throw describeConnectError(err, addr, this.#o.connectTimeoutMs);
    }
    coalesceWrites(conn);
    // An 'error' without a listener would crash the process; 'close' carries the news.
    conn.on('error', () => {});
    conn.on('close', (err?: Error) => this.#onLost(conn, addr, err));
    this.#conn = conn;
    let step = 'starting';
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(RESTORE_TIMED_OUT), this.#o.restoreTimeoutMs);
    });
    try {
      await Promise.race([
        this.#recovery.restore(conn, (what) => {
          step = what;
        }),
        timedOut,
      ]);
    } catch (err) {
      const failure = this.#restoreFailure(err, addr, step);
      // Forgotten first: its close must not count as the loss of a working connection.
      this.#conn = undefined;
      await boundedClose(conn.close());
      throw failure;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Why restoring on `addr` stopped at `step`: an unavailable broker names the node and the step. */
  #restoreFailure(err: unknown, addr: BrokerAddress, step: string): AppError {
    if (err === RESTORE_TIMED_OUT)
      return new AppError(
        'BROKER_UNAVAILABLE',
        `${addr.display} accepted the connection but did not finish ${step} within ${this.#o.restoreTimeoutMs} ms`,
      );
    if (!isAppError(err)) return this.mapError(err, `${step} on ${addr.display}`);
    if (err.code !== 'BROKER_UNAVAILABLE') return err;
    return new AppError('BROKER_UNAVAILABLE', `${addr.display}, ${step}: ${err.message}`, { cause: err });
  }

  #onLost(conn: amqplib.ChannelModel, addr: BrokerAddress, err?: Error): void {
    if (this.#conn !== conn) return;
    this.#conn = undefined;
    this.#recovery.lost();
    if (this.#state === 'closed') return;
    const why = err ? `: ${err.message}` : '';
    this.#setState('disconnected', new Error(`lost the connection to ${addr.display}${why}`, { cause: err }));
    this.#attempt = 0;
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#state === 'closed' || this.#reconnectTimer) return;
    // Every node of the list gets a quick try before the delay grows: after one node dies,
    // the next one is usually fine.
    const round = Math.floor(this.#attempt / this.#o.nodes.nodes.length);
    const base = Math.min(this.#o.backoff.max, this.#o.backoff.initial * 2 ** round);
    const delay = Math.min(this.#o.backoff.max, base * (0.8 + Math.random() * 0.4));
    this.#attempt++;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (this.#state === 'closed') return;
      // Round robin: the node just lost (or just refused) is tried again only after the others.
      const addr = this.#o.nodes.advance();
      this.#setState('connecting');
      this.#connect(addr).then(
        () => {
          if (this.#state === 'closed') {
            void this.#conn?.close().catch(() => {});
            return;
          }
          this.#attempt = 0;
          this.#setState('connected');
        },
        (err: unknown) => {
          if (this.#state === 'closed') return;
          this.#setState('disconnected', asError(err));
          this.#scheduleReconnect();
        },
      );
    }, delay);
  }

  /** The connection for an operation; BROKER_UNAVAILABLE at once while there is none. */
  require(): amqplib.ChannelModel {
    if (this.#state === 'closed') throw new AppError('TRANSPORT_CLOSED', 'the RabbitMQ transport was closed');
    const conn = this.#conn;
    if (!conn || this.#state !== 'connected') {
      throw new AppError('BROKER_UNAVAILABLE', `not connected to ${this.node.display} (reconnecting)`);
    }
    return conn;
  }

  /** A broker refusal or a lost channel as the matching AppError. */
  mapError(err: unknown, what: string): AppError {
    if (isAppError(err)) return err;
    const code = amqpCode(err);
    const text = errText(err);
    // The broker's reply text names the queue or exchange; it holds no secret and says what is wrong.
    const reply = text.replace(/^.*?(NOT_FOUND|PRECONDITION_FAILED|ACCESS_REFUSED|RESOURCE_LOCKED) - /, '');
    if (homeNodeDown(err)) {
      return new AppError(
        'BROKER_UNAVAILABLE',
        `${what}: ${reply} (a quorum queue would have a member on another node)`,
        {
          cause: err,
        },
      );
    }
    if (code === 404) {
      return new AppError(
        /exchange/.test(text) ? 'EXCHANGE_NOT_FOUND' : 'QUEUE_NOT_FOUND',
        `${what}: ${reply}`,
        {
          cause: err,
        },
      );
    }
    if (code === 406 || code === 405)
      return new AppError('TOPOLOGY_CONFLICT', `${what}: ${reply}`, { cause: err });
    if (code === 403)
      return new AppError('TOPOLOGY_CONFLICT', `${what}: access refused: ${reply}`, { cause: err });
    if (this.#state === 'closed')
      return new AppError('TRANSPORT_CLOSED', `${what}: the transport was closed`);
    // The driver's own text ("Channel ended, no reply will be forthcoming") helps nobody; the cause keeps it.
    const why = this.#conn
      ? 'the broker closed the channel'
      : `the connection to ${this.node.display} was lost`;
    return new AppError('BROKER_UNAVAILABLE', `${what} failed: ${why}`, { cause: err });
  }

  /** Stops reconnecting and reports `closed`; the socket stays open until `end()`. */
  markClosed(): void {
    this.#setState('closed');
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
  }

  /** Closes the socket: the broker returns every unsettled message to its queue. */
  async end(): Promise<void> {
    const conn = this.#conn;
    this.#conn = undefined;
    if (conn) await boundedClose(conn.close());
  }
}

/**
 * How long a close waits for the broker's close-ok. A connection the broker dropped while the
 * process was busy (a blocked event loop has not seen the socket close yet) never answers, and
 * amqplib then leaves the close pending with nothing left to wake the process: `close()` hung
 * until the test runner gave up ("the event loop has already resolved").
 */
export const CLOSE_TIMEOUT_MS = 2_000;

/** `done`, or nothing once `ms` passed: a close is finished either way. */
export function boundedClose(done: Promise<unknown>, ms = CLOSE_TIMEOUT_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return Promise.race([
    done.then(
      () => undefined,
      () => undefined,
    ),
    waited,
  ]).finally(() => clearTimeout(timer));
}

/**
 * One socket write per event-loop turn instead of one per frame. amqplib's multiplexer
 * moves every channel's queued frames to the socket in one pass (scheduled with
 * setImmediate), but writes each frame separately, and each uncorked write is a system call:
 * with many publishes in flight (a gateway under load) those calls were 8 % of its CPU.
 * Corking the socket around the pass sends the same bytes, in the same order, as one writev.
 * amqplib does not expose its multiplexer, so this is feature-checked and skipped if the
 * shape ever changes (frames then go out one by one, as before).
 */
export function coalesceWrites(conn: amqplib.ChannelModel): boolean {
  const c = (conn as unknown as { connection?: { stream?: unknown; muxer?: { _readIncoming?: unknown } } })
    .connection;
  const sock = c?.stream as { cork?: () => void; uncork?: () => void } | undefined;
  const mux = c?.muxer as { _readIncoming: () => void } | undefined;
  if (!sock?.cork || !sock.uncork || typeof mux?._readIncoming !== 'function') return false;
  const read = mux._readIncoming.bind(mux);
  mux._readIncoming = () => {
    sock.cork!();
    try {
      read();
    } finally {
      sock.uncork!();
    }
  };
  return true;
}
