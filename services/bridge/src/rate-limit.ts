/**
 * A token bucket: `perSecond` tokens a second, at most `burst` saved up. Each replica keeps
 * one per route and gets `1/replicas` of the route's rate (see docs/bridge.md).
 */
export class TokenBucket {
  #rate: number;
  #burst: number;
  #tokens: number;
  #at: number;
  readonly #now: () => number;

  /** `perSecond` > 0; `burst` ≥ 1 tokens; `now` in ms. */
  constructor(perSecond: number, burst: number, now: () => number = performance.now.bind(performance)) {
    this.#rate = perSecond / 1_000;
    this.#burst = Math.max(1, burst);
    this.#tokens = this.#burst;
    this.#now = now;
    this.#at = now();
  }

  /** Changes the rate (tokens per second) and burst, keeping the tokens saved so far. */
  configure(perSecond: number, burst: number): void {
    this.#refill();
    this.#rate = perSecond / 1_000;
    this.#burst = Math.max(1, burst);
    this.#tokens = Math.min(this.#tokens, this.#burst);
  }

  /** Takes one token when there is one. */
  take(): boolean {
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Milliseconds until one token is available (0 when one is). */
  waitMs(): number {
    this.#refill();
    return this.#tokens >= 1 ? 0 : Math.ceil((1 - this.#tokens) / this.#rate);
  }

  #refill(): void {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#rate);
    this.#at = now;
  }
}
