/**
 * Runs tasks for one key one after another (tasks for different keys run freely).
 * Two deliveries about the same issue in flight at once (prefetch > 1, or Plane
 * sending `updated` twice in a row) must not both pass the "already dispatched?"
 * check before either has recorded its dispatch.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const current = previous.then(task, task);
    const tail = current.catch(() => {});
    this.tails.set(key, tail);
    try {
      return await current;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  get size(): number {
    return this.tails.size;
  }
}
