// power_of_two_choices: draw two distinct candidates (each draw in proportion to weight), send to
// the one with fewer in-flight requests; on a tie the first draw wins, so an idle pool is spread
// exactly like weighted_random. O(log n) per pick. Avoids the herd effect of least_connections when
// many proxies see the same stale counts.
import type { Balancer, Candidate, PickContext } from './types.js';
import { indexAt, WeightCache, weightAt } from './weights.js';

export function createPowerOfTwoChoices(): Balancer {
  const cache = new WeightCache();
  return {
    pick(candidates: readonly Candidate[], ctx: PickContext): string | undefined {
      const n = candidates.length;
      if (n === 0) return undefined;
      if (n === 1) return candidates[0]?.id;
      const cw = cache.get(candidates);
      const i = indexAt(cw, ctx.random() * cw.total);
      const wi = weightAt(cw, i);
      const rest = cw.total - wi;
      const first = candidates[i];
      if (rest <= 0 || first === undefined) return first?.id;
      // Second draw over the weight line with the first candidate's interval cut out.
      let r = ctx.random() * rest;
      const start = i === 0 ? 0 : (cw.sums[i - 1] ?? 0);
      if (r >= start) r += wi;
      const j = Math.min(indexAt(cw, r), n - 1);
      const second = j === i ? undefined : candidates[j];
      if (second === undefined) return first.id;
      return ctx.inFlight(second.id) < ctx.inFlight(first.id) ? second.id : first.id;
    },
  };
}
