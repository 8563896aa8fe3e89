// consistent_hash: the request's affinity key is looked up on the fnv64 (+fmix64) ring from
// src/core/ring.ts, built from stable member ids and weights, so every proxy maps a key to the same
// backend and removing one of N backends moves ≈ 1/N of the keys. The ring holds every member of
// the pool (`ctx.members`, or the candidates when absent); a key whose home is not a candidate
// (unhealthy, draining, tried, saturated) walks clockwise to the next distinct candidate and comes
// home as soon as its backend is a candidate again. That walk is exactly a lookup on a ring built
// from the candidates alone, so the pick depends only on (key, candidate set), whatever the order.
//
// Optional bounded load (Mirrokni et al.): a backend over ⌈c · average⌉ in-flight requests is
// passed over for the next one clockwise. Rings are cached per member set (the last array by
// reference, the last RING_CACHE sets by signature). A request without a key is spread by weight
// at random, as weighted_random would.
import { HashRing, pickBounded } from '../../core/ring.js';
import type { Balancer, Candidate, PickContext } from './types.js';
import { indexAt, WeightCache } from './weights.js';

export interface ConsistentHashOptions {
  /** Ring points per weight-100 member (default: the ring's DEFAULT_VNODES). */
  readonly vnodes?: number | undefined;
  /** Bounded-load factor c (> 1), or undefined for the plain ring walk. */
  readonly balanceFactor?: number | undefined;
}

/** Rings kept per balancer (a ring of N weight-100 members holds N × 4000 points, 12 bytes each). */
const RING_CACHE = 16;

function signature(candidates: readonly Candidate[]): string {
  return candidates
    .map((c) => `${c.id}=${c.weight}`)
    .sort()
    .join(';');
}

export function createConsistentHash(options: ConsistentHashOptions = {}): Balancer {
  const ringOptions = options.vnodes === undefined ? {} : { vnodes: options.vnodes };
  const balanceFactor = options.balanceFactor;
  const weights = new WeightCache();
  /** Insertion-ordered: the first entry is the least recently used. */
  const rings = new Map<string, HashRing>();
  let lastArray: readonly Candidate[] | undefined;
  let lastRing: HashRing | undefined;
  /** Membership of the last candidate array that was a strict subset of its ring. */
  let lastSetArray: readonly Candidate[] | undefined;
  let lastSet: ReadonlySet<string> = new Set();
  /** The last candidate array found to be covered by the members' ring (checked once per array). */
  let lastCoveredArray: readonly Candidate[] | undefined;
  let lastCoveringRing: HashRing | undefined;

  function ringFor(members: readonly Candidate[]): HashRing {
    if (lastRing !== undefined && members === lastArray) return lastRing;
    const sig = signature(members);
    let ring = rings.get(sig);
    if (ring === undefined) {
      // Zero weights own no points; an all-zero set still serves, evenly.
      const allZero = members.every((c) => !(c.weight > 0));
      ring = HashRing.build(
        members.map((c) => ({
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
    lastArray = members;
    lastRing = ring;
    return ring;
  }

  function setOf(candidates: readonly Candidate[]): ReadonlySet<string> {
    if (candidates !== lastSetArray) {
      lastSetArray = candidates;
      lastSet = new Set(candidates.map((c) => c.id));
    }
    return lastSet;
  }

  /** Which ring serves `candidates`: the members' when given (and a superset), else their own. */
  function ringServing(candidates: readonly Candidate[], ctx: PickContext): HashRing {
    const members = ctx.members;
    if (members === undefined || members === candidates) return ringFor(candidates);
    const ring = ringFor(members);
    if (candidates === lastCoveredArray && ring === lastCoveringRing) return ring;
    // A candidate missing from the members would never be reached on their ring.
    for (const c of candidates) if (ring.weightOf(c.id) === undefined) return ringFor(candidates);
    lastCoveredArray = candidates;
    lastCoveringRing = ring;
    return ring;
  }

  return {
    affinity: true,

    pick(candidates: readonly Candidate[], ctx: PickContext): string | undefined {
      const n = candidates.length;
      if (n === 0) return undefined;
      if (n === 1) return candidates[0]?.id;
      const key = ctx.key;
      if (key === undefined) {
        const cw = weights.get(candidates);
        return candidates[indexAt(cw, ctx.random() * cw.total)]?.id;
      }
      const ring = ringServing(candidates, ctx);
      const whole = ring === lastRing && lastArray === candidates;
      if (balanceFactor !== undefined) {
        const usable = whole ? undefined : setOf(candidates);
        return pickBounded(
          ring,
          key,
          ctx.inFlight,
          (id) => usable === undefined || usable.has(id),
          balanceFactor,
        )?.backendId;
      }
      // Fast path: the key's home is a candidate (no generator, no allocation).
      const home = ring.lookupId(key);
      if (whole || home === undefined) return home;
      const usable = setOf(candidates);
      if (usable.has(home)) return home;
      for (const id of ring.candidates(key)) if (usable.has(id)) return id;
      return undefined;
    },

    shares(members: readonly Candidate[]): ReadonlyMap<string, number> {
      return ringFor(members).shares();
    },

    explain(id: string, ctx: PickContext): string {
      const members = ctx.members;
      const key = ctx.key;
      if (members === undefined || key === undefined) return '';
      const ring = ringFor(members);
      const hit = ring.lookup(key);
      // Spill: distinct members passed over, clockwise from the key's home, before `id`.
      let spill = 0;
      for (const member of ring.candidates(key)) {
        if (member === id) break;
        spill++;
      }
      return `hash=${hit?.keyHash ?? ''}; pos=${hit?.position ?? -1}; spill=${spill}`;
    },
  };
}
