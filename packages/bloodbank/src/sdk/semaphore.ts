/**
 * Limits how many handlers run at once; waiters are served in arrival order.
 *
 * A permit given back while others wait is handed on at the end of the event loop's turn
 * (one `setImmediate` for all the permits freed in that turn), not at once: handlers that
 * finish together then start their successors together, as a broker's deliveries arrive,
 * instead of one at a time between two answers. With HTTP handlers (push subscriptions)
 * handing on at once cost about a third more CPU per message, in the worker and in the
 * endpoint alike, from the extra wake-ups on both sides (docs/benchmarks.md).
 */
export class Semaphore {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  /** Permits given back this turn, to hand to waiters at its end. */
  #returned = 0;
  #handing = false;

  constructor(permits: number) {
    this.#free = permits;
  }

  acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  release(): void {
    if (this.#waiting.length === 0) {
      this.#free++;
      return;
    }
    this.#returned++;
    if (!this.#handing) {
      this.#handing = true;
      setImmediate(this.#handOn);
    }
  }

  readonly #handOn = (): void => {
    this.#handing = false;
    let n = this.#returned;
    this.#returned = 0;
    for (; n > 0; n--) {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  };
}
