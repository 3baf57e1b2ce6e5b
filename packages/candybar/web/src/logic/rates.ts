/**
 * Sliding-window counters for live rates (edges, nodes, the whole bus). One ring of
 * one-second slots per key; reading a rate never scans events.
 */
export class RateCounter {
  readonly #slots = new Map<string, Float64Array>();
  readonly #stamp = new Map<string, Float64Array>();

  constructor(readonly windowSeconds = 10) {}

  add(key: string, nowMs: number, n = 1): void {
    const sec = Math.floor(nowMs / 1000);
    const i = sec % this.windowSeconds;
    let slots = this.#slots.get(key);
    let stamp = this.#stamp.get(key);
    if (!slots || !stamp) {
      slots = new Float64Array(this.windowSeconds);
      stamp = new Float64Array(this.windowSeconds).fill(-1);
      this.#slots.set(key, slots);
      this.#stamp.set(key, stamp);
    }
    if (stamp[i] !== sec) {
      stamp[i] = sec;
      slots[i] = 0;
    }
    slots[i]! += n;
  }

  /** Events per second over the last complete window (the current second counts partially). */
  rate(key: string, nowMs: number): number {
    const slots = this.#slots.get(key);
    const stamp = this.#stamp.get(key);
    if (!slots || !stamp) return 0;
    const sec = Math.floor(nowMs / 1000);
    let sum = 0;
    for (let i = 0; i < this.windowSeconds; i++) {
      const s = stamp[i]!;
      if (s > sec - this.windowSeconds && s <= sec) sum += slots[i]!;
    }
    return sum / this.windowSeconds;
  }

  keys(): string[] {
    return [...this.#slots.keys()];
  }
}

export function formatRate(perSecond: number): string {
  if (perSecond === 0) return '0/s';
  if (perSecond < 1) return `${(perSecond * 60).toFixed(perSecond * 60 < 10 ? 1 : 0)}/min`;
  if (perSecond < 10) return `${perSecond.toFixed(1)}/s`;
  return `${Math.round(perSecond)}/s`;
}
