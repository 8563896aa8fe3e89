// Throttling of failed admin API authentications, per client address: `burst` failures at once,
// forgiven one every `perSeconds / burst` seconds (a token bucket, kept as GCRA: one number each). Once an address has used up its bucket, the
// API answers its authenticated requests with 429 and Retry-After *without checking the token*, so a
// correct token is refused too until the bucket refills: if a correct token still passed, the
// guesser would read success (2xx) versus 429 at full speed and the throttle would bound nothing.
// Reads need no token and are never throttled. Memory is bounded: at most MAX_ADDRESSES buckets.

/** Past this many tracked addresses, refilled buckets are forgotten first, then the oldest. */
const MAX_ADDRESSES = 10_000;
/** Eviction goes down to this many, so that it runs once per thousand new addresses, not per failure. */
const EVICT_TO = 9_000;

export interface AuthThrottleConfig {
  /** Failed authentications an address may make at once. */
  readonly burst: number;
  /** Seconds in which a used-up burst refills completely. */
  readonly perSeconds: number;
}

export class AuthThrottle {
  /**
   * Per address, the time (ms) at which all its failures will have been forgiven (GCRA's "theoretical
   * arrival time"): each failure pushes it `interval` ms further, and the address is throttled while
   * it lies more than `perSeconds - interval` ahead, i.e. after `burst` failures in a row.
   */
  private readonly clearAt = new Map<string, number>();
  /** Milliseconds for one failure to be forgiven. */
  private readonly interval: number;
  private readonly tolerance: number;

  constructor(
    config: AuthThrottleConfig,
    private readonly now: () => number = Date.now,
  ) {
    this.interval = (config.perSeconds * 1000) / config.burst;
    this.tolerance = config.perSeconds * 1000 - this.interval;
  }

  /** Seconds until `address` may try again (for Retry-After), or 0 when it is not throttled. */
  retryAfterSeconds(address: string): number {
    const ahead = (this.clearAt.get(address) ?? 0) - this.now();
    if (ahead <= this.tolerance) return 0;
    return Math.max(1, Math.ceil(Math.round(ahead - this.tolerance) / 1000));
  }

  /** Counts one failed authentication from `address`. */
  failed(address: string): void {
    const t = this.now();
    const next = Math.max(this.clearAt.get(address) ?? t, t) + this.interval;
    // Re-inserted so the Map's order stays least recently failed first (evicted first).
    this.clearAt.delete(address);
    this.clearAt.set(address, next);
    if (this.clearAt.size > MAX_ADDRESSES) this.evict(t);
  }

  /** Addresses currently tracked (tests). */
  get size(): number {
    return this.clearAt.size;
  }

  private evict(t: number): void {
    for (const [address, at] of this.clearAt) if (at <= t) this.clearAt.delete(address);
    for (const address of this.clearAt.keys()) {
      if (this.clearAt.size <= EVICT_TO) break;
      this.clearAt.delete(address);
    }
  }
}
