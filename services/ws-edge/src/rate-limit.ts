/**
 * A token bucket per connection: `rate` tokens per second refill a bucket of `burst`; each
 * publish takes one. Two numbers per connection, refilled lazily on use (no timers).
 */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  /** When `#tokens` was last brought up to date, in ms (performance clock). */
  #at: number;

  /** `rate` tokens per second (0 = unlimited), at most `burst` saved up. */
  constructor(rate: number, burst: number, now: number = performance.now()) {
    this.#rate = rate;
    this.#burst = burst;
    this.#tokens = burst;
    this.#at = now;
  }

  /** Takes one token; false when the bucket is empty (the publish must be refused). */
  take(now: number = performance.now()): boolean {
    if (this.#rate === 0) return true;
    const refill = ((now - this.#at) * this.#rate) / 1000;
    this.#tokens = Math.min(this.#burst, this.#tokens + refill);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
