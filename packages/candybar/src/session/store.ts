import { createHash, randomBytes } from 'node:crypto';

/** One browser's login: the token it proved, kept on the server; the browser holds only the id. */
export interface Session {
  readonly token: string;
  lastSeen: number;
}

export interface SessionStoreOptions {
  /** A session unused for this long is gone (ms). Default 12 h. */
  idleMs?: number;
  /** Most sessions kept; a new login beyond it ends the least recently used one. Default 1000. */
  max?: number;
  /**
   * Most sessions of one token (one principal's logins); a new login beyond it ends that token's
   * least recently used session. Default 32. It keeps one token holder from filling `max` and
   * so logging everyone else out; `max` stays the bound on memory.
   */
  maxPerToken?: number;
  now?: () => number;
}

/** 32 random bytes, base64url: what `create` hands out, and all `get` accepts. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/**
 * Sessions in memory (a restart logs everyone out). Kept by the SHA-256 digest of the id, in
 * least-recently-used order, so expired sessions are the first entries and the cap evicts the
 * one nobody used for longest. Each token's sessions are indexed in the same order, so its own
 * cap evicts its own least recently used session.
 */
export class SessionStore {
  readonly #byDigest = new Map<string, Session>();
  /** Token → digests of its sessions, least recently used first. */
  readonly #byToken = new Map<string, Set<string>>();
  readonly #idleMs: number;
  readonly #max: number;
  readonly #maxPerToken: number;
  readonly #now: () => number;

  constructor(options: SessionStoreOptions = {}) {
    this.#idleMs = options.idleMs ?? 12 * 60 * 60 * 1000;
    this.#max = options.max ?? 1000;
    this.#maxPerToken = options.maxPerToken ?? 32;
    this.#now = options.now ?? Date.now;
    if (!(this.#idleMs > 0)) throw new RangeError('idleMs must be positive');
    if (!(Number.isInteger(this.#max) && this.#max > 0))
      throw new RangeError('max must be a positive integer');
    if (!(Number.isInteger(this.#maxPerToken) && this.#maxPerToken > 0))
      throw new RangeError('maxPerToken must be a positive integer');
  }

  get size(): number {
    return this.#byDigest.size;
  }

  /** A new session for an accepted token; its id goes into the cookie. */
  create(token: string): string {
    this.#sweep();
    const own = this.#byToken.get(token);
    while (own !== undefined && own.size >= this.#maxPerToken)
      this.#remove(own.values().next().value as string);
    // The last resort, once many tokens each hold many sessions.
    while (this.#byDigest.size >= this.#max) this.#remove(this.#byDigest.keys().next().value as string);
    const id = randomBytes(32).toString('base64url');
    const key = digest(id);
    this.#byDigest.set(key, { token, lastSeen: this.#now() });
    const keys = this.#byToken.get(token);
    if (keys === undefined) this.#byToken.set(token, new Set([key]));
    else keys.add(key);
    return id;
  }

  /** The live session of an id (its idle time starts again), or undefined. */
  get(id: string): Session | undefined {
    if (!SESSION_ID.test(id)) return undefined;
    const key = digest(id);
    const session = this.#byDigest.get(key);
    if (session === undefined) return undefined;
    const now = this.#now();
    if (now - session.lastSeen >= this.#idleMs) {
      this.#remove(key);
      return undefined;
    }
    session.lastSeen = now;
    // To the end of both orders: now the most recently used.
    this.#byDigest.delete(key);
    this.#byDigest.set(key, session);
    const own = this.#byToken.get(session.token);
    own?.delete(key);
    own?.add(key);
    return session;
  }

  delete(id: string): void {
    if (SESSION_ID.test(id)) this.#remove(digest(id));
  }

  #sweep(): void {
    const now = this.#now();
    for (const [key, session] of this.#byDigest) {
      if (now - session.lastSeen < this.#idleMs) break;
      this.#remove(key);
    }
  }

  #remove(key: string): void {
    const session = this.#byDigest.get(key);
    if (session === undefined) return;
    this.#byDigest.delete(key);
    const own = this.#byToken.get(session.token);
    own?.delete(key);
    if (own?.size === 0) this.#byToken.delete(session.token);
  }
}

function digest(id: string): string {
  return createHash('sha256').update(id).digest('base64');
}
