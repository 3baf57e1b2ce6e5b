/**
 * A growable ring buffer: O(1) push and shift at both ends. Queues need the front for
 * requeue (RabbitMQ puts a requeued message back at the head) and the back for
 * publish; an array with `shift` would be O(n) per delivery on a deep queue.
 */
export class Deque<T> {
  #items: (T | undefined)[];
  #head = 0;
  #size = 0;

  constructor(capacity = 16) {
    this.#items = new Array(capacity);
  }

  get length(): number {
    return this.#size;
  }

  /** Slots allocated (for tests that check memory is given back). */
  get capacity(): number {
    return this.#items.length;
  }

  push(item: T): void {
    if (this.#size === this.#items.length) this.#grow();
    this.#items[(this.#head + this.#size) % this.#items.length] = item;
    this.#size++;
  }

  unshift(item: T): void {
    if (this.#size === this.#items.length) this.#grow();
    this.#head = (this.#head - 1 + this.#items.length) % this.#items.length;
    this.#items[this.#head] = item;
    this.#size++;
  }

  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#items.length;
    this.#size--;
    if (this.#size === 0) this.#head = 0;
    this.#maybeShrink();
    return item;
  }

  peekFirst(): T | undefined {
    return this.#size === 0 ? undefined : this.#items[this.#head];
  }

  at(index: number): T | undefined {
    if (index < 0 || index >= this.#size) return undefined;
    return this.#items[(this.#head + index) % this.#items.length];
  }

  clear(): void {
    this.#items = new Array(16);
    this.#head = 0;
    this.#size = 0;
  }

  #grow(): void {
    this.#resize(this.#items.length * 2);
  }

  // A queue that once held a million messages must not keep a million slots forever.
  #maybeShrink(): void {
    const cap = this.#items.length;
    if (cap > 1024 && this.#size < cap / 4) this.#resize(cap / 2);
  }

  #resize(capacity: number): void {
    const next: (T | undefined)[] = new Array(capacity);
    for (let i = 0; i < this.#size; i++) next[i] = this.#items[(this.#head + i) % this.#items.length];
    this.#items = next;
    this.#head = 0;
  }
}
