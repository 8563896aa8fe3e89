// consistent_hash: the request's affinity key is looked up on the fnv64 (+fmix64) ring from
// src/core/ring.ts, built from stable candidate ids and weights, so every proxy maps a key to the
// same backend and removing one of N backends moves ≈ 1/N of the keys. Deterministic: the same key
// over the same candidate set always yields the same id, whatever the list order. Rings are cached
// per candidate set (ids and weights, order ignored): the last array is checked by reference, and
// the last RING_CACHE sets are kept, so health flapping between a few sets does not rebuild rings.
// A request without a key is spread by weight at random, as weighted_random would.
import { HashRing } from '../../core/ring.js';
import type { Balancer, Candidate, PickContext } from './types.js';
import { indexAt, WeightCache } from './weights.js';

export interface ConsistentHashOptions {
  /** Ring points per weight-100 candidate (default: the ring's DEFAULT_VNODES). */
  readonly vnodes?: number;
}

/** Rings kept per balancer (a ring of N weight-100 members holds N × 2000 points, 12 bytes each). */
const RING_CACHE = 16;

function signature(candidates: readonly Candidate[]): string {
  return candidates
    .map((c) => `${c.id}=${c.weight}`)
    .sort()
    .join(';');
}

export function createConsistentHash(options: ConsistentHashOptions = {}): Balancer {
  const ringOptions = options.vnodes === undefined ? {} : { vnodes: options.vnodes };
  const weights = new WeightCache();
  /** Insertion-ordered: the first entry is the least recently used. */
  const rings = new Map<string, HashRing>();
  let lastArray: readonly Candidate[] | undefined;
  let lastRing: HashRing | undefined;

  function ringFor(candidates: readonly Candidate[]): HashRing {
    if (lastRing !== undefined && candidates === lastArray) return lastRing;
    const sig = signature(candidates);
    let ring = rings.get(sig);
    if (ring === undefined) {
      // Zero weights own no points; an all-zero set still serves, evenly.
      const allZero = candidates.every((c) => !(c.weight > 0));
      ring = HashRing.build(
        candidates.map((c) => ({
          id: c.id,
          weight: allZero ? 100 : Number.isFinite(c.weight) && c.weight > 0 ? c.weight : 0,
        })),
        ringOptions,
      );
      if (rings.size >= RING_CACHE) {
        const oldest = rings.keys().next();
        if (oldest.done !== true) rings.delete(oldest.value);
      }
    } else rings.delete(sig);
    rings.set(sig, ring);
    lastArray = candidates;
    lastRing = ring;
    return ring;
  }

  return {
    pick(candidates: readonly Candidate[], ctx: PickContext): string | undefined {
      const n = candidates.length;
      if (n === 0) return undefined;
      if (n === 1) return candidates[0]?.id;
      if (ctx.key === undefined) {
        const cw = weights.get(candidates);
        return candidates[indexAt(cw, ctx.random() * cw.total)]?.id;
      }
      return ringFor(candidates).lookupId(ctx.key);
    },
  };
}
