// least_response_time: latency-aware weighted random.
//
// Every finished request feeds `observe(id, latencyMs, ok)` into a per-backend EWMA (a failure
// counts as at least `failurePenaltyMs`). At most every `recomputeMs` the dynamic weights are
// recomputed from the backends observed within the sliding window (`windowMs`):
//   dynamic_i = weight_i × clamp(fastest EWMA / EWMA_i, minShare, 1)
// so a backend twice as slow as the fastest gets half its share, and the share moves smoothly with
// the EWMA. A backend keeps at least `minShare` of its share, so it is still probed and regains
// traffic as soon as its latency improves; one not observed within the window (or never) counts as
// fast again. Picks are weighted-random over the dynamic weights: with no observations this is
// exactly weighted_random.
import type { Balancer, Candidate, PickContext } from './types.js';
import { effectiveWeight } from './weights.js';

export interface LeastResponseTimeOptions {
  /** EWMA smoothing factor per observation, in (0, 1]. */
  readonly alpha?: number;
  /** Observations older than this no longer count; the backend returns to a full share. */
  readonly windowMs?: number;
  /** Dynamic weights are recomputed at most this often (and whenever the candidate list changes). */
  readonly recomputeMs?: number;
  /** Smallest fraction of its configured share a slow backend keeps, in (0, 1]. */
  readonly minShare?: number;
  /** A failed request counts as at least this latency. */
  readonly failurePenaltyMs?: number;
  readonly now?: () => number;
}

interface LatencyStat {
  ewma: number;
  lastAt: number;
}

export interface LeastResponseTimeBalancer extends Balancer {
  observe(id: string, latencyMs: number, ok: boolean): void;
  /** The current EWMA of a backend (undefined when never observed). For debugging and tests. */
  latencyOf(id: string): number | undefined;
}

export function createLeastResponseTime(options: LeastResponseTimeOptions = {}): LeastResponseTimeBalancer {
  const alpha = options.alpha ?? 0.3;
  const windowMs = options.windowMs ?? 10_000;
  const recomputeMs = options.recomputeMs ?? 200;
  const minShare = options.minShare ?? 0.05;
  const failurePenaltyMs = options.failurePenaltyMs ?? 1000;
  const now = options.now ?? Date.now;
  const stats = new Map<string, LatencyStat>();

  let lastArray: readonly Candidate[] | undefined;
  let computedAt = -Infinity;
  let sums = new Float64Array(0);
  let total = 0;

  function recompute(candidates: readonly Candidate[], at: number): void {
    let fastest = Infinity;
    for (const c of candidates) {
      const s = stats.get(c.id);
      if (s !== undefined && at - s.lastAt <= windowMs && s.ewma < fastest) fastest = s.ewma;
    }
    let allZero = true;
    for (const c of candidates) if (effectiveWeight(c.weight) > 0) allZero = false;
    if (sums.length !== candidates.length) sums = new Float64Array(candidates.length);
    total = 0;
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[i];
      if (c === undefined) continue;
      const base = allZero ? 1 : effectiveWeight(c.weight);
      const s = stats.get(c.id);
      let factor = 1;
      if (s !== undefined && at - s.lastAt <= windowMs && s.ewma > 0) {
        factor = Math.min(1, Math.max(minShare, Math.max(fastest, 1e-3) / s.ewma));
      }
      total += base * factor;
      sums[i] = total;
    }
    lastArray = candidates;
    computedAt = at;
  }

  return {
    pick(candidates: readonly Candidate[], ctx: PickContext): string | undefined {
      const n = candidates.length;
      if (n === 0) return undefined;
      if (n === 1) return candidates[0]?.id;
      const at = now();
      if (candidates !== lastArray || at - computedAt >= recomputeMs) recompute(candidates, at);
      const r = ctx.random() * total;
      let lo = 0;
      let hi = n - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((sums[mid] ?? 0) > r) hi = mid;
        else lo = mid + 1;
      }
      return candidates[lo]?.id;
    },
    observe(id: string, latencyMs: number, ok: boolean): void {
      if (!Number.isFinite(latencyMs) || latencyMs < 0) return;
      const sample = ok ? latencyMs : Math.max(latencyMs, failurePenaltyMs);
      const at = now();
      const s = stats.get(id);
      if (s === undefined || at - s.lastAt > windowMs) stats.set(id, { ewma: sample, lastAt: at });
      else {
        s.ewma += alpha * (sample - s.ewma);
        s.lastAt = at;
      }
    },
    latencyOf(id: string): number | undefined {
      return stats.get(id)?.ewma;
    },
  };
}
