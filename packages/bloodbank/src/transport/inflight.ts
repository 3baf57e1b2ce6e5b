/**
 * Counts running handler calls so that `cancel()` and `close()` can wait for them
 * (the drain in the contract). `idle` resolves true when the count reached zero,
 * false when the timeout came first.
 */
export class InFlight {
  #count = 0;
  #waiters: (() => void)[] = [];

  get count(): number {
    return this.#count;
  }

  enter(): void {
    this.#count++;
  }

  leave(): void {
    this.#count--;
    if (this.#count === 0) {
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) w();
    }
  }

  idle(timeoutMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    if (this.#count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer) clearTimeout(timer);
        resolve(true);
      };
      this.#waiters.push(done);
      if (Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => {
          this.#waiters = this.#waiters.filter((w) => w !== done);
          resolve(false);
        }, timeoutMs);
      }
    });
  }
}

/** Listeners of `onStateChange`; a throwing listener must not break the transport. */
export class StateListeners<S> {
  readonly #listeners = new Set<(state: S, error?: Error) => void>();

  add(listener: (state: S, error?: Error) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  emit(state: S, error?: Error): void {
    for (const l of this.#listeners) {
      try {
        l(state, error);
      } catch {
        // A listener's bug is its own; the transport keeps its state machine going.
      }
    }
  }
}
