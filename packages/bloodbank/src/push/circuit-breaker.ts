import { AppError } from '@33god/core';

export interface CircuitBreakerOptions {
  /** Consecutive failed deliveries that open the circuit. Default 5. */
  failureThreshold?: number;
  /** Wait before the first probe after opening. Default 5 000 ms. */
  cooldownMs?: number;
  /** The cool-down doubles after each failed probe, up to this. Default 300 000 ms. */
  maxCooldownMs?: number;
}

export type BreakerPosition = 'closed' | 'open' | 'half-open';

/**
 * The circuit breaker of one subscription, as a state machine without timers (the worker
 * owns those): `closed` counts consecutive failures and opens at the threshold; `open`
 * waits its cool-down; `half-open` lets one probe through, whose success closes the circuit
 * (cool-down back to its start) and whose failure opens it again for twice as long.
 */
export class CircuitBreaker {
  readonly threshold: number;
  readonly #initialCooldown: number;
  readonly #maxCooldown: number;
  #position: BreakerPosition = 'closed';
  #failures = 0;
  #cooldown: number;

  constructor(options: CircuitBreakerOptions = {}) {
    this.threshold = options.failureThreshold ?? 5;
    this.#initialCooldown = options.cooldownMs ?? 5_000;
    this.#maxCooldown = options.maxCooldownMs ?? 300_000;
    if (!Number.isInteger(this.threshold) || this.threshold < 1)
      throw new AppError(
        'CONFIG_INVALID',
        `failureThreshold must be a whole number >= 1, got ${this.threshold}`,
      );
    if (!(this.#initialCooldown > 0) || !(this.#maxCooldown >= this.#initialCooldown))
      throw new AppError('CONFIG_INVALID', 'cooldownMs must be > 0 and maxCooldownMs >= cooldownMs');
    this.#cooldown = this.#initialCooldown;
  }

  get position(): BreakerPosition {
    return this.#position;
  }

  get consecutiveFailures(): number {
    return this.#failures;
  }

  /** The cool-down of the current (or next) opening. */
  get cooldownMs(): number {
    return this.#cooldown;
  }

  /** A delivery succeeded. Returns true when this closed the circuit (a probe succeeded). */
  succeeded(): boolean {
    this.#failures = 0;
    if (this.#position !== 'half-open') return false;
    this.#position = 'closed';
    this.#cooldown = this.#initialCooldown;
    return true;
  }

  /** A delivery failed in a way that says the endpoint is unwell. Returns true when this opened the circuit. */
  failed(): boolean {
    this.#failures++;
    if (this.#position === 'half-open') {
      this.#cooldown = Math.min(this.#maxCooldown, this.#cooldown * 2);
      this.#position = 'open';
      return true;
    }
    if (this.#position === 'closed' && this.#failures >= this.threshold) {
      this.#position = 'open';
      return true;
    }
    return false;
  }

  /** The cool-down is over: let one probe through. */
  probe(): void {
    if (this.#position === 'open') this.#position = 'half-open';
  }
}
