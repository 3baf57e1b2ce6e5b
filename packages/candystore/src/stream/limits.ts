import { AppError } from '@33god/core';

/** How many live streams the store serves at once. */
export interface StreamLimits {
  /** Sockets one client (a principal, else an address) may hold. */
  maxPerClient: number;
  /** Sockets in all. */
  maxTotal: number;
}

/**
 * Whom a stream counts against: the authenticated principal when the access hook set one,
 * else the client's address. A principal is one client wherever it connects from, so a
 * token cannot multiply its share by connecting from many addresses.
 */
export function streamClientKey(req: { ip: string }): string {
  const principal = (req as { principal?: { name: string } | null }).principal;
  return principal ? `principal:${principal.name}` : `ip:${req.ip}`;
}

/**
 * The open streams, per client and in all. A stream takes a slot before its upgrade and gives
 * it back once, however it ends; a slot refused is a TOO_MANY_STREAMS error (429).
 */
export class StreamSlots {
  readonly #limits: StreamLimits;
  readonly #perClient = new Map<string, number>();
  #total = 0;

  constructor(limits: StreamLimits) {
    this.#limits = limits;
  }

  get total(): number {
    return this.#total;
  }

  held(key: string): number {
    return this.#perClient.get(key) ?? 0;
  }

  /** Takes a slot for `key`; returns its release (calling it again does nothing). */
  acquire(key: string): () => void {
    const mine = this.held(key);
    if (mine >= this.#limits.maxPerClient) {
      throw new AppError(
        'TOO_MANY_STREAMS',
        `this client already holds ${mine} live streams, the most one client may; close one first`,
        { extra: { limit: this.#limits.maxPerClient } },
      );
    }
    if (this.#total >= this.#limits.maxTotal) {
      throw new AppError(
        'TOO_MANY_STREAMS',
        `the store serves ${this.#total} live streams, its most; try again later`,
        { extra: { limit: this.#limits.maxTotal } },
      );
    }
    this.#perClient.set(key, mine + 1);
    this.#total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#total--;
      const left = this.held(key) - 1;
      if (left > 0) this.#perClient.set(key, left);
      else this.#perClient.delete(key);
    };
  }
}
