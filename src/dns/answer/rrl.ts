// Response Rate Limiting (as in BIND/Knot/NSD): a token bucket per client prefix (/24 IPv4, /56 IPv6
// by default). Over the limit, every `slip`-th response goes out as an empty TC=1 reply (a real
// client retries over TCP, which is never limited); the others are dropped. Memory is bounded by
// two generations of buckets: a bucket idle for a whole generation is full again anyway, so it can
// be forgotten.
import type { RrlConfig } from '../../config/dns-schema.js';
import type { DeepReadonly } from '../../config/load.js';
import type { AddressBytes } from '../wire/address.js';

export type RrlVerdict = 'pass' | 'slip' | 'drop';

interface Bucket {
  tokens: number;
  last: number;
  limited: number;
}

export interface RateLimiterOptions {
  readonly config: DeepReadonly<RrlConfig>;
  /** Buckets kept per generation (memory bound is twice this). */
  readonly maxBuckets?: number;
  /** How long a generation lasts, ms (must exceed the time a bucket needs to refill: 1 s). */
  readonly generationMs?: number;
}

export class RateLimiter {
  private current = new Map<number | string, Bucket>();
  private previous = new Map<number | string, Bucket>();
  private generationStart = 0;
  private readonly rate: number;
  private readonly slip: number;
  private readonly v4Prefix: number;
  private readonly v6Prefix: number;
  private readonly maxBuckets: number;
  private readonly generationMs: number;

  constructor(options: RateLimiterOptions) {
    this.rate = options.config.responsesPerSecond;
    this.slip = options.config.slip;
    this.v4Prefix = options.config.ipv4Prefix;
    this.v6Prefix = options.config.ipv6Prefix;
    this.maxBuckets = options.maxBuckets ?? 100_000;
    this.generationMs = Math.max(2000, options.generationMs ?? 10_000);
  }

  /**
   * The bucket key of a client address (bytes, see wire/address.ts): its network at the configured
   * prefix — an IPv4 network as a number, an IPv6 one as text of its kept bytes.
   */
  key(address: AddressBytes): number | string {
    if (address.length === 4) {
      const n = ((address[0]! << 24) | (address[1]! << 16) | (address[2]! << 8) | address[3]!) >>> 0;
      return this.v4Prefix === 0 ? 0 : (n & (~0 << (32 - this.v4Prefix))) >>> 0;
    }
    const prefix = this.v6Prefix;
    const full = prefix >> 3;
    let key = '6:';
    for (let i = 0; i < full; i++) key += `${address[i]},`;
    const rem = prefix & 7;
    if (rem > 0) key += String((address[full] ?? 0) & (0xff << (8 - rem)) & 0xff);
    return key;
  }

  /** Charges one response to the client's bucket. `now` in ms. */
  check(address: AddressBytes, now: number): RrlVerdict {
    if (now - this.generationStart >= this.generationMs || this.current.size >= this.maxBuckets)
      this.rotate(now);
    const key = this.key(address);
    let b = this.current.get(key);
    if (b === undefined) {
      b = this.previous.get(key);
      if (b !== undefined) this.previous.delete(key);
      else b = { tokens: this.rate, last: now, limited: 0 };
      this.current.set(key, b);
    }
    const elapsed = now - b.last;
    if (elapsed > 0) {
      b.tokens = Math.min(this.rate, b.tokens + (elapsed * this.rate) / 1000);
      b.last = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 'pass';
    }
    b.limited++;
    if (this.slip > 0 && b.limited % this.slip === 0) return 'slip';
    return 'drop';
  }

  private rotate(now: number): void {
    this.previous = this.current;
    this.current = new Map();
    this.generationStart = now;
  }

  /** Buckets currently held (for tests). */
  get size(): number {
    return this.current.size + this.previous.size;
  }
}
