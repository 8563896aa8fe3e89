// Token-bucket rate limits.
//
// Local mode: one bucket per (policy, client key) in this process; no I/O, always synchronous.
//
// Cluster mode: the bucket lives in Redis and is updated by one atomic Lua script using Redis's own
// clock (so proxies with skewed clocks agree). To keep the hot path off Redis, a proxy takes tokens
// in small batches (about 1/10 s of the rate, at most MAX_BATCH) and spends them locally; when its
// local allowance runs low it refills in the background, so a steady client rarely waits. Only a
// request that finds no local token waits for Redis (concurrent ones share that one round trip).
// Unspent tokens are dropped after ALLOWANCE_TTL_MS, so a proxy never holds more than a fraction of
// a second of the cluster's rate. If Redis fails, the policy falls back to a local bucket (each
// proxy then enforces the limit on its own) until Redis answers again.
import type { LimitState } from './verdict.js';
import { LuaScript, type RedisConnection } from '../../infra/redis/lua-script.js';

export interface BucketParams {
  readonly rate: number;
  readonly burst: number;
}

export interface TakeResult {
  readonly ok: boolean;
  readonly state: LimitState;
  /** Seconds until one token is available (meaningful when !ok). */
  readonly retryAfterSeconds: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Buckets this process keeps; idle full ones are swept when the map grows past this. */
const MAX_LOCAL_KEYS = 100_000;

export class LocalBuckets {
  readonly #buckets = new Map<string, Bucket>();
  constructor(private readonly now: () => number) {}

  take(key: string, p: BucketParams): TakeResult {
    const now = this.now();
    let b = this.#buckets.get(key);
    if (b === undefined) {
      if (this.#buckets.size >= MAX_LOCAL_KEYS) this.sweep(p);
      b = { tokens: p.burst, at: now };
      this.#buckets.set(key, b);
    } else {
      b.tokens = Math.min(p.burst, b.tokens + (Math.max(0, now - b.at) * p.rate) / 1000);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true, state: state(b.tokens, p), retryAfterSeconds: 0 };
    }
    return { ok: false, state: state(b.tokens, p), retryAfterSeconds: (1 - b.tokens) / p.rate };
  }

  /** Drops buckets that have refilled completely (they hold no information); then the oldest. */
  sweep(p: BucketParams): void {
    const now = this.now();
    for (const [k, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) * p.rate) / 1000 >= p.burst) this.#buckets.delete(k);
    }
    for (const k of this.#buckets.keys()) {
      if (this.#buckets.size < MAX_LOCAL_KEYS * 0.9) break;
      this.#buckets.delete(k);
    }
  }

  get size(): number {
    return this.#buckets.size;
  }
}

function state(tokens: number, p: BucketParams): LimitState {
  return { limit: p.burst, remaining: Math.floor(tokens), resetSeconds: (p.burst - tokens) / p.rate };
}

// KEYS[1] = bucket. ARGV = rate (tokens/s), burst, wanted. Returns {granted, tokens left (string)}.
const TAKE = new LuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if tokens == nil or at == nil then
  tokens = burst
else
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
end
local granted = math.min(want, math.floor(tokens))
if granted < 0 then granted = 0 end
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {granted, tostring(tokens)}`);

export const MAX_BATCH = 16;
export const ALLOWANCE_TTL_MS = 1000;
/** After Redis fails, a key uses its local fallback bucket for this long before asking again. */
export const FAILURE_BACKOFF_MS = 1000;

interface Allowance {
  tokens: number;
  expiresAt: number;
  /** Tokens left in Redis after the last grant (for RateLimit-Remaining). */
  remote: number;
  pending: Promise<void> | undefined;
  /** The last fetch granted nothing: reject until this time without asking Redis again. */
  emptyUntil: number;
  /** The last fetch failed (Redis unreachable): callers use the local fallback bucket. */
  failed: boolean;
  /** After a failure, use the fallback without asking Redis until this time. */
  failedUntil: number;
}

export interface ClusterLimiterOptions {
  readonly redis: RedisConnection;
  readonly keyPrefix: string;
  readonly now: () => number;
  /** Called when Redis fails (the caller logs, rate-limited). */
  readonly onError: (err: unknown) => void;
}

export class ClusterRateLimiter {
  readonly #allowances = new Map<string, Allowance>();
  readonly #fallback: LocalBuckets;
  constructor(private readonly o: ClusterLimiterOptions) {
    this.#fallback = new LocalBuckets(o.now);
  }

  /** Synchronous when a local token is available; otherwise a promise settled by one Redis round trip. */
  take(policyId: string, key: string, p: BucketParams): TakeResult | Promise<TakeResult> {
    const id = `${policyId}\u0000${key}`;
    const now = this.o.now();
    let a = this.#allowances.get(id);
    if (a === undefined) {
      if (this.#allowances.size >= MAX_LOCAL_KEYS) this.#sweep(now);
      a = {
        tokens: 0,
        expiresAt: 0,
        remote: p.burst,
        pending: undefined,
        emptyUntil: 0,
        failed: false,
        failedUntil: 0,
      };
      this.#allowances.set(id, a);
    }
    if (a.expiresAt <= now) a.tokens = 0;
    const batch = batchSize(p);
    if (a.tokens >= 1) {
      a.tokens -= 1;
      if (a.tokens < batch / 2 && a.pending === undefined && batch > 1)
        void this.#fetch(a, policyId, key, p, batch);
      return this.#granted(a, p);
    }
    if (a.failedUntil > now) return this.#fallback.take(id, p);
    if (a.emptyUntil > now && a.pending === undefined) return this.#refused(a, p);
    const pending = a.pending ?? this.#fetch(a, policyId, key, p, batch);
    const current = a;
    return pending.then(() => {
      if (current.tokens >= 1) {
        current.tokens -= 1;
        return this.#granted(current, p);
      }
      if (current.failed) return this.#fallback.take(id, p);
      return this.#refused(current, p);
    });
  }

  #granted(a: Allowance, p: BucketParams): TakeResult {
    const remaining = Math.max(0, Math.floor(a.remote + a.tokens));
    return {
      ok: true,
      state: { limit: p.burst, remaining, resetSeconds: (p.burst - remaining) / p.rate },
      retryAfterSeconds: 0,
    };
  }

  #refused(a: Allowance, p: BucketParams): TakeResult {
    const tokens = Math.max(0, a.remote);
    return {
      ok: false,
      state: { limit: p.burst, remaining: 0, resetSeconds: (p.burst - tokens) / p.rate },
      retryAfterSeconds: (1 - tokens) / p.rate,
    };
  }

  #fetch(a: Allowance, policyId: string, key: string, p: BucketParams, want: number): Promise<void> {
    const run = async (): Promise<void> => {
      a.failed = false;
      try {
        const reply = (await TAKE.run(
          this.o.redis,
          [`${this.o.keyPrefix}rl:${policyId}:${key}`],
          [p.rate, p.burst, want],
        )) as [number, string];
        const granted = Number(reply[0]);
        const now = this.o.now();
        a.remote = Number(reply[1]);
        if (a.expiresAt <= now) a.tokens = 0;
        a.tokens += granted;
        a.expiresAt = now + ALLOWANCE_TTL_MS;
        // Nothing granted: the bucket is empty cluster-wide until about one token has refilled.
        a.emptyUntil = granted === 0 ? now + Math.max(1, ((1 - a.remote) / p.rate) * 1000) : 0;
      } catch (err) {
        a.failed = true;
        a.failedUntil = this.o.now() + FAILURE_BACKOFF_MS;
        this.o.onError(err);
      }
    };
    const pending = run().finally(() => {
      a.pending = undefined;
    });
    a.pending = pending;
    return pending;
  }

  #sweep(now: number): void {
    for (const [k, a] of this.#allowances)
      if (a.expiresAt <= now && a.pending === undefined) this.#allowances.delete(k);
  }
}

/** Tokens fetched per Redis round trip: about 1/10 s of the rate, 1 to MAX_BATCH. */
export function batchSize(p: BucketParams): number {
  return Math.max(1, Math.min(MAX_BATCH, Math.floor(p.rate / 10), p.burst));
}
