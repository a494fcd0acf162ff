// Token buckets per key (client IP) in memory: `ratePerMinute` tokens refill steadily up to
// `burst`. Per process: with several instances behind a balancer, each one limits on its own.
export interface Take {
  ok: boolean;
  /** Seconds until the next attempt is allowed (when not ok). */
  retryAfterSeconds: number;
}

export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #perMs: number;
  readonly #burst: number;
  readonly #maxKeys: number;

  constructor(opts: { ratePerMinute: number; burst: number; maxKeys?: number }) {
    this.#perMs = opts.ratePerMinute / 60_000;
    this.#burst = opts.burst;
    this.#maxKeys = opts.maxKeys ?? 50_000;
  }

  take(key: string, now: number): Take {
    let b = this.#buckets.get(key);
    if (!b) {
      if (this.#buckets.size >= this.#maxKeys) this.#sweep(now);
      b = { tokens: this.#burst, at: now };
      this.#buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.#burst, b.tokens + Math.max(0, now - b.at) * this.#perMs);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true, retryAfterSeconds: 0 };
    }
    return { ok: false, retryAfterSeconds: Math.ceil((1 - b.tokens) / this.#perMs / 1000) };
  }

  /** Forgets buckets that have refilled (they behave like new ones); then the oldest if still full. */
  #sweep(now: number): void {
    for (const [key, b] of this.#buckets) {
      if (b.tokens + (now - b.at) * this.#perMs >= this.#burst) this.#buckets.delete(key);
    }
    while (this.#buckets.size >= this.#maxKeys) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest === undefined) break;
      this.#buckets.delete(oldest);
    }
  }
}
