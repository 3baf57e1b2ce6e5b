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
  now?: () => number;
}

/** 32 random bytes, base64url: what `create` hands out, and all `get` accepts. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/**
 * Sessions in memory (a restart logs everyone out). Kept by the SHA-256 digest of the id, in
 * least-recently-used order, so expired sessions are the first entries and the cap evicts the
 * one nobody used for longest.
 */
export class SessionStore {
  readonly #byDigest = new Map<string, Session>();
  readonly #idleMs: number;
  readonly #max: number;
  readonly #now: () => number;

  constructor(options: SessionStoreOptions = {}) {
    this.#idleMs = options.idleMs ?? 12 * 60 * 60 * 1000;
    this.#max = options.max ?? 1000;
    this.#now = options.now ?? Date.now;
    if (!(this.#idleMs > 0)) throw new RangeError('idleMs must be positive');
    if (!(Number.isInteger(this.#max) && this.#max > 0))
      throw new RangeError('max must be a positive integer');
  }

  get size(): number {
    return this.#byDigest.size;
  }

  /** A new session for an accepted token; its id goes into the cookie. */
  create(token: string): string {
    this.#sweep();
    while (this.#byDigest.size >= this.#max) {
      const oldest = this.#byDigest.keys().next().value as string;
      this.#byDigest.delete(oldest);
    }
    const id = randomBytes(32).toString('base64url');
    this.#byDigest.set(digest(id), { token, lastSeen: this.#now() });
    return id;
  }

  /** The live session of an id (its idle time starts again), or undefined. */
  get(id: string): Session | undefined {
    if (!SESSION_ID.test(id)) return undefined;
    const key = digest(id);
    const session = this.#byDigest.get(key);
    if (session === undefined) return undefined;
    this.#byDigest.delete(key);
    const now = this.#now();
    if (now - session.lastSeen >= this.#idleMs) return undefined;
    session.lastSeen = now;
    this.#byDigest.set(key, session);
    return session;
  }

  delete(id: string): void {
    if (SESSION_ID.test(id)) this.#byDigest.delete(digest(id));
  }

  #sweep(): void {
    const now = this.#now();
    for (const [key, session] of this.#byDigest) {
      if (now - session.lastSeen < this.#idleMs) break;
      this.#byDigest.delete(key);
    }
  }
}

function digest(id: string): string {
  return createHash('sha256').update(id).digest('base64');
}
