import type { StoredEvent, StreamMessage } from '../logic/types.js';

export type LiveStatus = 'connecting' | 'live' | 'reconnecting';

type EventListener = (e: StoredEvent) => void;
type StatusListener = (s: LiveStatus) => void;

/**
 * The app's one connection to Candystore's live stream (through the dashboard server).
 * It reconnects by itself with exponential backoff when the server or the store
 * restarts, resuming from the last position seen so nothing in between is skipped.
 */
export class LiveStream {
  #ws: WebSocket | null = null;
  #events = new Set<EventListener>();
  #statuses = new Set<StatusListener>();
  #status: LiveStatus = 'connecting';
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #stopped = true;
  position: string | null = null;
  received = 0;
  reconnects = 0;

  constructor(readonly path = '/api/store/stream') {}

  get status(): LiveStatus {
    return this.#status;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#connect();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#ws?.close();
    this.#ws = null;
  }

  onEvent(fn: EventListener): () => void {
    this.#events.add(fn);
    return () => this.#events.delete(fn);
  }

  onStatus(fn: StatusListener): () => void {
    this.#statuses.add(fn);
    fn(this.#status);
    return () => this.#statuses.delete(fn);
  }

  #setStatus(s: LiveStatus): void {
    if (s === this.#status) return;
    this.#status = s;
    for (const fn of this.#statuses) fn(s);
  }

  #connect(): void {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const from = this.position ?? 'now';
    const ws = new WebSocket(`${proto}//${location.host}${this.path}?from=${encodeURIComponent(from)}`);
    this.#ws = ws;
    ws.onmessage = (m) => {
      let data: StreamMessage | StreamMessage[];
      try {
        data = JSON.parse(typeof m.data === 'string' ? m.data : '') as StreamMessage | StreamMessage[];
      } catch {
        return;
      }
      if (this.#status !== 'live') {
        this.#attempt = 0;
        this.#setStatus('live');
      }
      // The dashboard's server coalesces busy streams into arrays of messages.
      for (const msg of Array.isArray(data) ? data : [data]) {
        if (msg.kind === 'event') {
          if (msg.event.position) this.position = msg.event.position;
          this.received++;
          for (const fn of this.#events) fn(msg.event);
        } else if (msg.position) {
          this.position = msg.position;
        }
      }
    };
    ws.onopen = () => {
      // The stream says `caught_up` or sends a heartbeat soon; until then we are connected but unconfirmed.
      this.#setStatus('live');
    };
    ws.onclose = () => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      if (this.#stopped) return;
      this.#setStatus('reconnecting');
      const delay = Math.min(10_000, 400 * 2 ** this.#attempt) * (0.75 + Math.random() * 0.5);
      this.#attempt = Math.min(this.#attempt + 1, 6);
      this.reconnects++;
      this.#timer = setTimeout(() => this.#connect(), delay);
    };
  }
}

export const live = new LiveStream();
