// random: uniform over the candidates; weights are ignored.
import type { Balancer, Candidate, PickContext } from './types.js';

export function createRandom(): Balancer {
  return {
    pick(candidates: readonly Candidate[], ctx: PickContext): string | undefined {
      if (candidates.length === 0) return undefined;
      return candidates[Math.floor(ctx.random() * candidates.length)]?.id;
    },
  };
}
