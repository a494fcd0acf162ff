// A small in-memory map with a time to live and a size bound. Insertion order is eviction
// order (oldest first), which with a few seconds of TTL is as good as LRU and costs nothing
// on a hit.
export class TtlCache<V> {
  readonly #entries = new Map<string, { value: V; expires: number }>();
  readonly #ttlMs: number;
  readonly #maxSize: number;

  constructor(ttlMs: number, maxSize: number) {
    this.#ttlMs = ttlMs;
    this.#maxSize = maxSize;
  }

  get(key: string, now: number): V | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (e.expires <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: V, now: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { value, expires: now + this.#ttlMs });
    while (this.#entries.size > this.#maxSize) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  /** Drops every entry whose value matches; used on rare events (logout, revoke), so a scan is fine. */
  deleteWhere(match: (value: V) => boolean): number {
    let n = 0;
    for (const [key, e] of this.#entries) {
      if (match(e.value)) {
        this.#entries.delete(key);
        n++;
      }
    }
    return n;
  }

  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}
