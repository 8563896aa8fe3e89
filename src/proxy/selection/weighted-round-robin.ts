// weighted_round_robin, the smooth variant (nginx): every pick adds each candidate's weight to its
// `current`, picks the largest `current` and subtracts the total from it. Over any window of n
// picks a candidate of weight w gets at most ceil(w/Σw · n) + 1 picks: no bursts. Deterministic
// for a given sequence of candidate lists. State is keyed by candidate id, so adding or removing a
// candidate keeps the others' positions; ids that disappear are forgotten.
import type { Balancer, Candidate } from './types.js';
import { effectiveWeight } from './weights.js';

export function createWeightedRoundRobin(): Balancer {
  let current = new Map<string, number>();
  return {
    pick(candidates: readonly Candidate[]): string | undefined {
      const n = candidates.length;
      if (n === 0) return undefined;
      if (n === 1) return candidates[0]?.id;
      let total = 0;
      for (const c of candidates) total += effectiveWeight(c.weight);
      const allZero = total === 0;
      if (allZero) total = n;
      let best: Candidate | undefined;
      let bestValue = -Infinity;
      for (const c of candidates) {
        const w = allZero ? 1 : effectiveWeight(c.weight);
        const before = current.get(c.id);
        const value = (before ?? 0) + w;
        current.set(c.id, value);
        if (w > 0 && value > bestValue) {
          bestValue = value;
          best = c;
        }
      }
      if (current.size > n) {
        // Some remembered ids are no longer candidates: keep the present ones, forget the rest.
        const fresh = new Map<string, number>();
        for (const c of candidates) fresh.set(c.id, current.get(c.id) ?? 0);
        current = fresh;
      }
      if (best === undefined) return undefined;
      current.set(best.id, bestValue - total);
      return best.id;
    },
  };
}
