// Weighted sampling shared by the weight-based algorithms. Pure.
import type { Candidate } from './types.js';

/**
 * Prefix sums of the effective weights. A weight that is not a positive finite number counts as 0;
 * when every weight is 0 all candidates count 1 (an all-zero set still serves, evenly).
 */
export interface CumulativeWeights {
  readonly sums: Float64Array;
  readonly total: number;
}

export function effectiveWeight(w: number): number {
  return Number.isFinite(w) && w > 0 ? w : 0;
}

export function cumulativeWeights(candidates: readonly Candidate[]): CumulativeWeights {
  const sums = new Float64Array(candidates.length);
  let total = 0;
  for (let i = 0; i < candidates.length; i++) {
    total += effectiveWeight(candidates[i]?.weight ?? 0);
    sums[i] = total;
  }
  if (total === 0) {
    for (let i = 0; i < candidates.length; i++) sums[i] = i + 1;
    total = candidates.length;
  }
  return { sums, total };
}

/** Index of the first prefix sum strictly greater than `r` (r in [0, total)). Binary search. */
export function indexAt(cw: CumulativeWeights, r: number): number {
  const { sums } = cw;
  let lo = 0;
  let hi = sums.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sums[mid] ?? 0) > r) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Weight of the candidate at `i` as counted in `cw` (so an all-zero set yields 1). */
export function weightAt(cw: CumulativeWeights, i: number): number {
  return (cw.sums[i] ?? 0) - (i === 0 ? 0 : (cw.sums[i - 1] ?? 0));
}

/**
 * Caches the prefix sums for the last candidate array seen. Callers typically pass the same
 * (immutable) array until the set changes, so the O(n) build happens once per set.
 */
export class WeightCache {
  private lastArray: readonly Candidate[] | undefined;
  private lastWeights: CumulativeWeights | undefined;

  get(candidates: readonly Candidate[]): CumulativeWeights {
    if (candidates !== this.lastArray || this.lastWeights === undefined) {
      this.lastArray = candidates;
      this.lastWeights = cumulativeWeights(candidates);
    }
    return this.lastWeights;
  }
}
