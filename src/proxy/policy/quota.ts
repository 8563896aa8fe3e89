// Request quotas per calendar period (UTC minute, hour or day).
//
// With Redis the count is cluster-wide: key P quota:<policy>:<period start ms>:<client key>, updated
// by one Lua script that refuses past the limit and otherwise INCRBYs, setting PEXPIREAT at the
// period's end when it creates the key — atomic, so concurrent proxies never overshoot. Like cluster
// rate limits, a proxy reserves units in small batches (limit/1000, 1 to MAX_BATCH) and spends them
// locally, so large quotas rarely wait on Redis; reserved-but-unspent units count as used, so usage
// can read up to (batch − 1) per proxy high, and small quotas (limit < 2000) are exact. Without
// Redis (or while it fails) counting is per process.
//
// Period lengths are injectable (`periodMs`) so tests can see a boundary pass in a second.
import type { QuotaPeriod, QuotaPolicy } from '../../config/policy-schema.js';
import type { QuotaUsage } from '../../storage/policy-store.js';
import type { LimitState } from './verdict.js';

export type { QuotaUsage } from '../../storage/policy-store.js';
import { LuaScript, type RedisConnection } from '../../infra/redis/lua-script.js';

export const PERIOD_MS: Readonly<Record<QuotaPeriod, number>> = {
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
};
const MAX_BATCH = 16;
const FAILURE_BACKOFF_MS = 1000;
const MAX_LOCAL_KEYS = 100_000;

export interface QuotaTake {
  readonly ok: boolean;
  readonly state: LimitState;
  /** ms epoch of the period's end. */
  readonly resetAt: number;
}

export interface QuotaCounterOptions {
  readonly redis?: RedisConnection;
  readonly keyPrefix?: string;
  readonly now?: () => number;
  /** Overrides period lengths (tests). Periods are aligned to multiples of their length since the epoch. */
  readonly periodMs?: Partial<Record<QuotaPeriod, number>>;
  readonly onError?: (err: unknown) => void;
}

// KEYS[1] = counter. ARGV = limit, wanted, expire-at (ms). Returns {granted, used}.
const RESERVE = new LuaScript(`
local limit = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local granted = math.min(want, limit - used)
if granted <= 0 then return {0, used} end
used = redis.call('INCRBY', KEYS[1], granted)
if used == granted then redis.call('PEXPIREAT', KEYS[1], ARGV[3]) end
return {granted, used}`);

interface Reservation {
  start: number;
  tokens: number;
  used: number;
  exhausted: boolean;
  pending: Promise<void> | undefined;
  failed: boolean;
  failedUntil: number;
}

export class QuotaCounter {
  readonly #redis: RedisConnection | undefined;
  readonly #prefix: string;
  readonly #now: () => number;
  readonly #periodMs: Record<QuotaPeriod, number>;
  readonly #onError: (err: unknown) => void;
  /** Local counts: (policy, key) → count in the period starting at `start`. */
  readonly #local = new Map<string, { start: number; used: number }>();
  readonly #reservations = new Map<string, Reservation>();

  constructor(options: QuotaCounterOptions = {}) {
    this.#redis = options.redis;
    this.#prefix = options.keyPrefix ?? 'meridian:';
    this.#now = options.now ?? Date.now;
    this.#periodMs = { ...PERIOD_MS, ...options.periodMs };
    this.#onError = options.onError ?? (() => undefined);
  }

  get counting(): 'cluster' | 'local' {
    return this.#redis === undefined ? 'local' : 'cluster';
  }

  bounds(period: QuotaPeriod, at = this.#now()): { start: number; end: number } {
    const len = this.#periodMs[period];
    const start = Math.floor(at / len) * len;
    return { start, end: start + len };
  }

  /** Counts one request. Synchronous unless a Redis round trip is needed. */
  take(policy: QuotaPolicy, key: string): QuotaTake | Promise<QuotaTake> {
    const now = this.#now();
    const { start, end } = this.bounds(policy.period, now);
    const id = `${policy.id}\u0000${key}`;
    if (this.#redis === undefined) return this.#takeLocal(id, policy, start, end, now);
    let r = this.#reservations.get(id);
    if (r === undefined || r.start !== start) {
      if (r === undefined && this.#reservations.size >= MAX_LOCAL_KEYS) this.#sweep(start);
      r = {
        start,
        tokens: 0,
        used: 0,
        exhausted: false,
        pending: undefined,
        failed: false,
        failedUntil: r?.failedUntil ?? 0,
      };
      this.#reservations.set(id, r);
    }
    if (r.tokens >= 1) {
      r.tokens -= 1;
      const batch = batchSize(policy.limit);
      if (r.tokens < batch / 2 && batch > 1 && r.pending === undefined && !r.exhausted) {
        void this.#reserve(r, policy, key, end, batch);
      }
      return granted(policy, r.used - r.tokens, end, now);
    }
    if (r.failedUntil > now) return this.#takeLocal(id, policy, start, end, now);
    if (r.exhausted) return refused(policy, end, now);
    const current = r;
    const pending = r.pending ?? this.#reserve(r, policy, key, end, batchSize(policy.limit));
    return pending.then(() => {
      const at = this.#now();
      if (current.failed) return this.#takeLocal(id, policy, start, end, at);
      if (current.tokens >= 1) {
        current.tokens -= 1;
        return granted(policy, current.used - current.tokens, end, at);
      }
      return refused(policy, end, at);
    });
  }

  /** Current usage of one key. */
  async usage(policy: QuotaPolicy, key: string): Promise<QuotaUsage> {
    const now = this.#now();
    const { start, end } = this.bounds(policy.period, now);
    let used: number;
    if (this.#redis === undefined) {
      const l = this.#local.get(`${policy.id}\u0000${key}`);
      used = l !== undefined && l.start === start ? l.used : 0;
    } else {
      used = Number((await this.#redis.call('GET', [this.#counterKey(policy.id, start, key)])) ?? 0);
    }
    return {
      policyId: policy.id,
      key,
      period: policy.period,
      limit: policy.limit,
      used,
      remaining: Math.max(0, policy.limit - used),
      periodStart: new Date(start).toISOString(),
      resetAt: new Date(end).toISOString(),
      resetInSeconds: Math.max(0, Math.ceil((end - now) / 1000)),
      counting: this.counting,
    };
  }

  /** Forgets state of policies that no longer exist. */
  retain(policyIds: ReadonlySet<string>): void {
    for (const m of [this.#local, this.#reservations] as Map<string, unknown>[]) {
      for (const k of m.keys()) if (!policyIds.has(k.slice(0, k.indexOf('\u0000')))) m.delete(k);
    }
  }

  /** Drops local reservations (after a policy change, so a raised limit applies at once). */
  resetReservations(): void {
    this.#reservations.clear();
  }

  #counterKey(policyId: string, start: number, key: string): string {
    return `${this.#prefix}quota:${policyId}:${start}:${key}`;
  }

  #takeLocal(id: string, policy: QuotaPolicy, start: number, end: number, now: number): QuotaTake {
    let l = this.#local.get(id);
    if (l === undefined || l.start !== start) {
      if (l === undefined && this.#local.size >= MAX_LOCAL_KEYS) {
        for (const [k, v] of this.#local) if (v.start !== start) this.#local.delete(k);
      }
      l = { start, used: 0 };
      this.#local.set(id, l);
    }
    if (l.used >= policy.limit) return refused(policy, end, now);
    l.used++;
    return granted(policy, l.used, end, now);
  }

  #reserve(r: Reservation, policy: QuotaPolicy, key: string, end: number, want: number): Promise<void> {
    const redis = this.#redis;
    const run = async (): Promise<void> => {
      r.failed = false;
      if (redis === undefined) return;
      try {
        // Expire a little after the period ends, so a usage query right at the boundary still reads it.
        const reply = (await RESERVE.run(
          redis,
          [this.#counterKey(policy.id, r.start, key)],
          [policy.limit, want, end + 60_000],
        )) as [number, number];
        const got = Number(reply[0]);
        r.used = Number(reply[1]);
        r.tokens += got;
        if (got < want) r.exhausted = true;
      } catch (err) {
        r.failed = true;
        r.failedUntil = this.#now() + FAILURE_BACKOFF_MS;
        this.#onError(err);
      }
    };
    const pending = run().finally(() => {
      r.pending = undefined;
    });
    r.pending = pending;
    return pending;
  }

  #sweep(start: number): void {
    for (const [k, r] of this.#reservations)
      if (r.start !== start && r.pending === undefined) this.#reservations.delete(k);
  }
}

function batchSize(limit: number): number {
  return Math.max(1, Math.min(MAX_BATCH, Math.floor(limit / 1000)));
}

function granted(policy: QuotaPolicy, used: number, end: number, now: number): QuotaTake {
  return {
    ok: true,
    state: { limit: policy.limit, remaining: policy.limit - used, resetSeconds: (end - now) / 1000 },
    resetAt: end,
  };
}

function refused(policy: QuotaPolicy, end: number, now: number): QuotaTake {
  return {
    ok: false,
    state: { limit: policy.limit, remaining: 0, resetSeconds: (end - now) / 1000 },
    resetAt: end,
  };
}
