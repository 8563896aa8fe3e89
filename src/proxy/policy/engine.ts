// The policy engine: what the proxy asks, per request, whether traffic policies let it through.
//
// Policies are compiled whenever the store changes (never per request): the enabled policies whose
// scope is `global` or this region, WAF rules merged and sorted, keys and patterns compiled. A
// request then goes through, in order:
//   1. WAF rules (a block answers 403 at once, before any limit spends a token);
//   2. rate limits (token buckets), then quotas (per-period counts), in policy-id order; the first
//      one over its limit answers 429.
// `check` returns a plain object whenever no Redis round trip is needed — always for WAF, local
// rate limits and quotas without Redis, and for cluster modes whenever the local allowance has a
// token — so the proxy's hot path stays synchronous; otherwise it returns a promise.
// A passing request carries the RateLimit-* headers of the most constrained limit that applied.
import type { Transform } from 'node:stream';
import { Counter, type Registry } from 'prom-client';
import { describeError, notFound, invalid } from '../../core/errors.js';
import type {
  BandwidthLimitPolicy,
  Policy,
  QuotaPeriod,
  QuotaPolicy,
  RateLimitPolicy,
  WafPolicy,
} from '../../config/policy-schema.js';
import { silentLogger, type Logger } from '../../infra/logger.js';
import { BandwidthPacer, defaultBurst, PacedStream, pieceSize, type PaceParams } from './bandwidth.js';
import { compileKey, type KeyFn } from './client-key.js';
import type { CompiledPattern } from '../../core/pattern.js';
import { QuotaCounter, type QuotaTake, type QuotaUsage } from './quota.js';
import { ClusterRateLimiter, LocalBuckets, type TakeResult } from './rate-limit.js';
import type { RedisConnection } from '../../infra/redis/lua-script.js';
import type { PolicyStore } from '../../storage/policy-store.js';
import {
  limitHeaders,
  PASS,
  POLICY_ERROR_CODES,
  tooManyRequests,
  type LimitState,
  type PolicyRequest,
  type PolicyVerdict,
} from './verdict.js';
import { compileWaf, lazyIpBytes, type CompiledWafRule } from './waf.js';

export type { PolicyRequest, PolicyVerdict } from './verdict.js';

export interface PolicyEngineOptions {
  readonly store: PolicyStore;
  /** This proxy's region: policies scoped to it or `global` apply. */
  readonly regionId: string;
  /** For `mode: cluster` rate limits and cluster-wide quotas. Without it both count per process. */
  readonly redis?: RedisConnection;
  /** Same as `state.redis.keyPrefix` (default `meridian:`). */
  readonly keyPrefix?: string;
  readonly logger?: Logger;
  /** Where the policy metrics go; omitted = not recorded. */
  readonly registry?: Registry;
  readonly now?: () => number;
  /** Overrides quota period lengths (tests). */
  readonly quotaPeriodMs?: Partial<Record<QuotaPeriod, number>>;
}

type LimitOutcome = { readonly reject: PolicyVerdict } | { readonly pass: LimitState | undefined };

interface CompiledLimit {
  readonly policy: RateLimitPolicy | QuotaPolicy;
  run(req: PolicyRequest): LimitOutcome | Promise<LimitOutcome>;
}

interface CompiledBandwidth {
  readonly policy: BandwidthLimitPolicy;
  readonly key: KeyFn;
  readonly params: PaceParams;
}

interface Compiled {
  readonly policies: readonly Policy[];
  readonly waf: readonly CompiledWafRule[];
  readonly limits: readonly CompiledLimit[];
  readonly bandwidth: readonly CompiledBandwidth[];
}

const EMPTY: Compiled = { policies: [], waf: [], limits: [], bandwidth: [] };
const ERROR_LOG_INTERVAL_MS = 10_000;

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return v instanceof Promise;
}

function counter(registry: Registry, name: string, help: string, labelNames: string[]): Counter {
  const existing = registry.getSingleMetric(name);
  if (existing instanceof Counter) return existing;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

/** Decision counts of one engine: type → action → count (plain numbers on the request path). */
type DecisionTally = Record<string, Record<string, number>>;

/**
 * The engines counting into each registry's `meridian_policy_decisions_total`. The request path
 * only adds to plain numbers; the counter is rebuilt from them when the registry is scraped (a
 * prom-client labelled `inc` hashes its labels on every call, which cost more than a WAF rule).
 */
const decisionSources = new WeakMap<Registry, Set<DecisionTally>>();

function decisionCounter(registry: Registry): Set<DecisionTally> {
  let sources = decisionSources.get(registry);
  if (sources !== undefined) return sources;
  const set = new Set<DecisionTally>();
  sources = set;
  decisionSources.set(registry, set);
  if (registry.getSingleMetric('meridian_policy_decisions_total') === undefined) {
    new Counter({
      name: 'meridian_policy_decisions_total',
      help: 'Traffic policy decisions by policy type and action.',
      labelNames: ['type', 'action'],
      registers: [registry],
      collect(this: Counter<'type' | 'action'>) {
        this.reset();
        for (const tally of set)
          for (const type in tally)
            for (const action in tally[type]) {
              const n = tally[type]?.[action] ?? 0;
              if (n > 0) this.labels(type, action).inc(n);
            }
      },
    });
  }
  return sources;
}

export class PolicyEngine {
  /** Quota counting (shared with the admin API's usage route when both run in one process). */
  readonly quotas: QuotaCounter;
  readonly #store: PolicyStore;
  readonly #regionId: string;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #local: LocalBuckets;
  readonly #cluster: ClusterRateLimiter | undefined;
  readonly #pacer: BandwidthPacer;
  readonly #patterns = new Map<string, CompiledPattern>();
  readonly #decisions: DecisionTally | undefined;
  readonly #wafMatches: Counter | undefined;
  readonly #unsubscribe: () => void;
  #compiled: Compiled = EMPTY;
  #lastErrorLog = 0;

  constructor(options: PolicyEngineOptions) {
    this.#store = options.store;
    this.#regionId = options.regionId;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'policy' });
    this.#now = options.now ?? Date.now;
    const keyPrefix = options.keyPrefix ?? 'meridian:';
    const onError = (err: unknown): void => this.#redisError(err);
    this.#local = new LocalBuckets(this.#now);
    this.#cluster =
      options.redis === undefined
        ? undefined
        : new ClusterRateLimiter({ redis: options.redis, keyPrefix, now: this.#now, onError });
    this.quotas = new QuotaCounter({
      ...(options.redis === undefined ? {} : { redis: options.redis }),
      keyPrefix,
      now: this.#now,
      ...(options.quotaPeriodMs === undefined ? {} : { periodMs: options.quotaPeriodMs }),
      onError,
    });
    this.#pacer = new BandwidthPacer();
    if (options.registry !== undefined) {
      this.#decisions = {};
      decisionCounter(options.registry).add(this.#decisions);
      this.#wafMatches = counter(
        options.registry,
        'meridian_policy_waf_matches_total',
        'WAF rule matches by rule (policy/rule).',
        ['rule'],
      );
    }
    this.#unsubscribe = this.#store.onChange((policies) => this.#compile(policies));
    this.#compile(this.#store.current());
  }

  /** The policies in force on this proxy (enabled, in scope). */
  policies(): readonly Policy[] {
    return this.#compiled.policies;
  }

  check(req: PolicyRequest): PolicyVerdict | Promise<PolicyVerdict> {
    const c = this.#compiled;
    if (c.waf.length > 0) {
      const blocked = this.#waf(c.waf, req);
      if (blocked !== undefined) return blocked;
    }
    if (c.limits.length === 0) return PASS;
    return this.#limits(c.limits, req, 0, undefined);
  }

  /**
   * A Transform pacing one response stream of a client, or undefined when no bandwidth limit
   * applies. Pass the request (each policy derives its own key) or a client key string (used for
   * every bandwidth policy, e.g. the client IP). Every stream of the same key shares one budget.
   */
  pace(client: string | PolicyRequest): Transform | undefined {
    const bw = this.#compiled.bandwidth;
    if (bw.length === 0) return undefined;
    const keys = bw.map((b) => `${b.policy.id}\u0000${typeof client === 'string' ? client : b.key(client)}`);
    for (const k of keys) this.#pacer.opened(k);
    this.#count('bandwidth_limit', 'pace');
    const pacer = this.#pacer;
    const piece = Math.min(...bw.map((b) => pieceSize(b.params.bytesPerSecond)));
    return new PacedStream(
      (bytes) => {
        let wait = 0;
        for (let i = 0; i < bw.length; i++)
          wait = Math.max(wait, pacer.reserve(keys[i] ?? '', bytes, (bw[i] as CompiledBandwidth).params));
        return wait;
      },
      piece,
      () => {
        for (const k of keys) pacer.closed(k);
      },
    );
  }

  /** Usage of a quota policy for one key (the key as the policy computes it: an IP, a tenant, …). */
  quotaUsage(policyId: string, key: string): Promise<QuotaUsage> {
    const policy = this.#store.current().find((p) => p.id === policyId);
    if (policy === undefined) return Promise.reject(notFound(`policy ${policyId}`));
    if (policy.type !== 'quota')
      return Promise.reject(invalid('policyId', `policy ${policyId} is a ${policy.type}, not a quota`));
    return this.quotas.usage(policy, key);
  }

  close(): void {
    this.#unsubscribe();
    this.#compiled = EMPTY;
  }

  #waf(rules: readonly CompiledWafRule[], req: PolicyRequest): PolicyVerdict | undefined {
    const ip = lazyIpBytes(req.clientIp);
    for (const rule of rules) {
      if (!rule.matches(req, ip)) continue;
      this.#wafMatches?.inc({ rule: rule.qualifiedId });
      if (rule.action === 'log') {
        this.#count('waf', 'log');
        this.#logger.info(
          {
            policy: rule.policyId,
            rule: rule.ruleId,
            clientIp: req.clientIp,
            method: req.method,
            path: req.path,
          },
          'WAF rule matched (log only)',
        );
        continue;
      }
      if (rule.action === 'allow') {
        this.#count('waf', 'allow');
        return undefined;
      }
      this.#count('waf', 'block');
      return {
        action: 'reject',
        status: 403,
        headers: {},
        body: {
          error: {
            code: POLICY_ERROR_CODES.wafBlocked,
            message: `request blocked by WAF rule ${rule.ruleId} of policy ${rule.policyId}`,
            ruleId: rule.ruleId,
          },
        },
      };
    }
    this.#count('waf', 'pass');
    return undefined;
  }

  #limits(
    limits: readonly CompiledLimit[],
    req: PolicyRequest,
    from: number,
    tightest: LimitState | undefined,
  ): PolicyVerdict | Promise<PolicyVerdict> {
    let best = tightest;
    for (let i = from; i < limits.length; i++) {
      const limit = limits[i] as CompiledLimit;
      const out = limit.run(req);
      if (isPromise(out)) {
        return out.then((o) => {
          if ('reject' in o) return o.reject;
          return this.#limits(limits, req, i + 1, tighter(best, o.pass));
        });
      }
      if ('reject' in out) return out.reject;
      best = tighter(best, out.pass);
    }
    return best === undefined ? PASS : { action: 'pass', headers: limitHeaders(best) };
  }

  #compile(all: readonly Policy[]): void {
    const inForce = all.filter((p) => p.enabled && (p.scope === 'global' || p.scope === this.#regionId));
    const waf = compileWaf(
      inForce.filter((p): p is WafPolicy => p.type === 'waf'),
      this.#patterns,
    );
    const limits: CompiledLimit[] = [];
    for (const p of inForce) if (p.type === 'rate_limit') limits.push(this.#rateLimit(p));
    for (const p of inForce) if (p.type === 'quota') limits.push(this.#quota(p));
    const bandwidth = inForce
      .filter((p): p is BandwidthLimitPolicy => p.type === 'bandwidth_limit')
      .map((p) => ({
        policy: p,
        key: compileKey(p.key),
        params: {
          bytesPerSecond: p.bytesPerSecond,
          burstBytes: p.burstBytes ?? defaultBurst(p.bytesPerSecond),
        },
      }));
    // Patterns of rules that are gone need not stay compiled.
    const live = new Set<string>();
    for (const p of inForce) if (p.type === 'waf') for (const r of p.rules) live.add(r.pattern);
    for (const k of this.#patterns.keys()) if (!live.has(k)) this.#patterns.delete(k);
    this.quotas.retain(new Set(inForce.filter((p) => p.type === 'quota').map((p) => p.id)));
    this.quotas.resetReservations();
    this.#compiled = { policies: Object.freeze(inForce), waf, limits, bandwidth };
    this.#logger.debug(
      { policies: inForce.length, wafRules: waf.length, limits: limits.length },
      'policies compiled',
    );
  }

  #rateLimit(p: RateLimitPolicy): CompiledLimit {
    const key = compileKey(p.key);
    const params = { rate: p.rate, burst: p.burst };
    const outcome = (r: TakeResult): LimitOutcome => {
      this.#count('rate_limit', r.ok ? 'pass' : 'reject');
      if (r.ok) return { pass: r.state };
      return {
        reject: tooManyRequests(
          POLICY_ERROR_CODES.rateLimited,
          `rate limit ${p.id} exceeded (${p.rate}/s, burst ${p.burst}); retry in ${Math.max(1, Math.ceil(r.retryAfterSeconds))} s`,
          r.state,
          r.retryAfterSeconds,
        ),
      };
    };
    const cluster = p.mode === 'cluster' ? this.#cluster : undefined;
    const local = this.#local;
    if (cluster === undefined) {
      const prefix = `${p.id}\u0000`;
      return { policy: p, run: (req) => outcome(local.take(prefix + key(req), params)) };
    }
    return {
      policy: p,
      run: (req) => {
        const r = cluster.take(p.id, key(req), params);
        return isPromise(r) ? r.then(outcome) : outcome(r);
      },
    };
  }

  #quota(p: QuotaPolicy): CompiledLimit {
    const key = compileKey(p.key);
    const quotas = this.quotas;
    const outcome = (r: QuotaTake): LimitOutcome => {
      this.#count('quota', r.ok ? 'pass' : 'reject');
      if (r.ok) return { pass: r.state };
      return {
        reject: tooManyRequests(
          POLICY_ERROR_CODES.quotaExceeded,
          `quota ${p.id} exhausted (${p.limit} per ${p.period}); resets at ${new Date(r.resetAt).toISOString()}`,
          r.state,
          r.state.resetSeconds,
        ),
      };
    };
    return {
      policy: p,
      run: (req) => {
        const r = quotas.take(p, key(req));
        return isPromise(r) ? r.then(outcome) : outcome(r);
      },
    };
  }

  #count(type: string, action: string): void {
    const tally = this.#decisions;
    if (tally === undefined) return;
    const byAction = (tally[type] ??= {});
    byAction[action] = (byAction[action] ?? 0) + 1;
  }

  #redisError(err: unknown): void {
    const now = Date.now();
    if (now - this.#lastErrorLog < ERROR_LOG_INTERVAL_MS) return;
    this.#lastErrorLog = now;
    this.#logger.warn(
      { err: describeError(err) },
      'Redis unavailable for cluster-wide limits; counting locally meanwhile',
    );
  }
}

/** The state with the fewest remaining requests (ties: the later reset). */
function tighter(a: LimitState | undefined, b: LimitState | undefined): LimitState | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  if (b.remaining < a.remaining || (b.remaining === a.remaining && b.resetSeconds > a.resetSeconds)) return b;
  return a;
}
