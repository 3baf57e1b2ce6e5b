/**
 * A bounded record of recent deliveries, least recently seen evicted first (a Map keeps
 * insertion order, and a hit is re-inserted). It only saves a republish: the event id is
 * derived from the delivery id, so a duplicate that slips past (another gateway instance,
 * a restart) is still recognisable downstream.
 */
export class DeliveryLru {
  readonly #max: number;
  readonly #seen = new Map<string, string>();

  constructor(max = 10_000) {
    this.#max = max;
  }

  get(key: string): string | undefined {
    const v = this.#seen.get(key);
    if (v !== undefined) {
      this.#seen.delete(key);
      this.#seen.set(key, v);
    }
    return v;
  }

  set(key: string, eventId: string): void {
    this.#seen.delete(key);
    this.#seen.set(key, eventId);
    if (this.#seen.size > this.#max) {
      const oldest = this.#seen.keys().next();
      if (!oldest.done) this.#seen.delete(oldest.value);
    }
  }

  get size(): number {
    return this.#seen.size;
  }
}
