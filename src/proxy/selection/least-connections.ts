// least_connections: the candidate with the fewest in-flight requests per unit of weight
// (inFlight / weight, like nginx's least_conn). Ties are broken at random in proportion to weight,
// so an idle pool is spread exactly like weighted_random. Zero-weight candidates are used only when
// every weight is zero.
import type { Balancer, Candidate, PickContext } from './types.js';
import { effectiveWeight } from './weights.js';

export function createLeastConnections(): Balancer {
  return {
    pick(candidates: readonly Candidate[], ctx: PickContext): string | undefined {
      const n = candidates.length;
      if (n === 0) return undefined;
      if (n === 1) return candidates[0]?.id;
      let allZero = true;
      for (const c of candidates) {
        if (effectiveWeight(c.weight) > 0) {
          allZero = false;
          break;
        }
      }
      let best: string | undefined;
      let bestScore = Infinity;
      let tiedWeight = 0;
      for (const c of candidates) {
        const w = allZero ? 1 : effectiveWeight(c.weight);
        if (w === 0) continue;
        const score = Math.max(0, ctx.inFlight(c.id)) / w;
        if (score < bestScore) {
          bestScore = score;
          best = c.id;
          tiedWeight = w;
        } else if (score === bestScore) {
          // Weighted reservoir sampling over the tied candidates: keep c with probability w / Σw.
          tiedWeight += w;
          if (ctx.random() * tiedWeight < w) best = c.id;
        }
      }
      return best;
    },
  };
}
