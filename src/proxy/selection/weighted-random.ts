// weighted_random: each pick independent, candidate i chosen with probability w_i / Σw.
// O(log n) per pick (binary search over prefix sums cached per candidate array).
import type { Balancer, Candidate, PickContext } from './types.js';
import { indexAt, WeightCache } from './weights.js';

export function createWeightedRandom(): Balancer {
  const cache = new WeightCache();
  return {
    pick(candidates: readonly Candidate[], ctx: PickContext): string | undefined {
      if (candidates.length === 0) return undefined;
      if (candidates.length === 1) return candidates[0]?.id;
      const cw = cache.get(candidates);
      return candidates[indexAt(cw, ctx.random() * cw.total)]?.id;
    },
  };
}
