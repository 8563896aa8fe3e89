// round_robin: candidates in list order, one after another; weights are ignored. Deterministic:
// the n-th pick over an unchanged list of k candidates is candidates[n mod k].
import type { Balancer, Candidate } from './types.js';

export function createRoundRobin(): Balancer {
  let next = 0;
  return {
    pick(candidates: readonly Candidate[]): string | undefined {
      if (candidates.length === 0) return undefined;
      if (next >= candidates.length) next = 0;
      const chosen = candidates[next];
      next++;
      return chosen?.id;
    },
  };
}
