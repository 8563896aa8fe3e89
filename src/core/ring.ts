// Consistent-hash ring with weighted virtual nodes, plus bounded-load picking. Pure.
//
// Determinism: a ring depends only on the set of (id, weight) pairs and `vnodes`. Members are
// sorted by id, point labels are `${id}#${i}` (never list positions or addresses), and ties between
// equal point hashes are broken by member id then point index, so every proxy in every region
// computes the same ring for the same backend set; `version` lets them compare.
//
// Points per member: `round(weight / 100 × vnodes)` (weight 100 = the default weight gets `vnodes`
// points; any positive weight gets at least 1; weight 0 gets none). If the total would exceed
// MAX_POINTS, every member's count is scaled down by the same factor (still deterministic).
//
// Hash: `hash64` (FNV-1a 64 + fmix64) for both point labels and keys; a key maps to the first point
// clockwise at or after its hash, wrapping around. Points live in sorted Uint32Array hi/lo pairs and
// a lookup is a binary search with no allocation (`lookupId`).
import { FNV_OFFSET, fmix64Into, fnv1aInto, hash64Hex, hash64Into, lastHi, lastLo, toHex64 } from './hash.js';
import { invalid } from './errors.js';

/**
 * Default virtual nodes per weight-100 member.
 *
 * Measured with scripts/bench-ring.ts --sweep (members `backend-<i>`, 100k keys `session-<i>`):
 * busiest member's key count / average, and (in brackets) its exact hash-space share / average:
 *   vnodes  160: N=3 1.097 (1.085)  N=10 1.158 (1.145)  N=50 1.156 (1.163)
 *   vnodes 1000: N=3 1.044 (1.039)  N=10 1.036 (1.039)  N=50 1.096 (1.063)
 *   vnodes 2000: N=3 1.024 (1.021)  N=10 1.040 (1.034)  N=50 1.071 (1.051)
 *   vnodes 4000: N=3 1.021 (1.025)  N=10 1.026 (1.031)  N=50 1.060 (1.032)
 * 4000 is the smallest of 2000/3000/4000/5000 whose hash-space share stays ≤ 1.05× at N = 3, 10
 * and 50 (over 20 different member-name sets at N=50: median 1.035, worst 1.048). Key counts at N=50
 * include sampling noise: 100k keys are 2,000 per member, and even a perfectly uniform assignment of
 * these keys gives a busiest/average of 1.04–1.05; over 1M keys the busiest is ≤ 1.041×.
 * Cost: 12 bytes per point (48 kB per member); build ≈ 0.3 s for 300 members (1.2M points);
 * lookup is a binary search over N·4000 points.
 */
export const DEFAULT_VNODES = 4000;
/** Upper bound on ring points (≈ 48 MB); larger weight sums are scaled down proportionally. */
export const MAX_POINTS = 4_000_000;
/** The weight that receives exactly `vnodes` points. */
export const REFERENCE_WEIGHT = 100;

const TWO_32 = 4294967296;
const TWO_64 = TWO_32 * TWO_32;

export interface RingMember {
  readonly id: string;
  readonly weight: number;
}

export interface RingOptions {
  /** Points for a member of weight 100 (default DEFAULT_VNODES). */
  readonly vnodes?: number;
}

export interface RingHit {
  readonly backendId: string;
  /** hash64 of the key, 16 hex characters. */
  readonly keyHash: string;
  /** Index of the ring point that owns the key (0 ≤ position < size). */
  readonly position: number;
}

export class HashRing {
  /** Number of points. */
  readonly size: number;
  /** All member ids, sorted (including zero-weight members, which own no points). */
  readonly members: readonly string[];
  /** hash64 hex of the vnodes setting and the sorted `id=weight` list: equal versions ⇔ equal rings. */
  readonly version: string;
  readonly vnodes: number;

  readonly #hi: Uint32Array;
  readonly #lo: Uint32Array;
  /** Point index → index into #members. */
  readonly #owner: Uint32Array;
  /** Number of members that own at least one point. */
  readonly #activeMembers: number;
  readonly #weights: ReadonlyMap<string, number>;

  private constructor(
    members: readonly string[],
    weights: ReadonlyMap<string, number>,
    vnodes: number,
    version: string,
    hi: Uint32Array,
    lo: Uint32Array,
    owner: Uint32Array,
    activeMembers: number,
  ) {
    this.members = members;
    this.#weights = weights;
    this.vnodes = vnodes;
    this.version = version;
    this.#hi = hi;
    this.#lo = lo;
    this.#owner = owner;
    this.size = hi.length;
    this.#activeMembers = activeMembers;
    Object.freeze(this);
  }

  /** Builds an immutable ring; build a new one whenever the member set or a weight changes. */
  static build(members: readonly RingMember[], options: RingOptions = {}): HashRing {
    const vnodes = options.vnodes ?? DEFAULT_VNODES;
    if (!Number.isSafeInteger(vnodes) || vnodes < 1) throw invalid('vnodes', 'expected a positive integer');
    const sorted = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const weights = new Map<string, number>();
    for (const m of sorted) {
      if (typeof m.id !== 'string' || m.id === '') throw invalid('id', 'expected a non-empty member id');
      if (!Number.isFinite(m.weight) || m.weight < 0) {
        throw invalid(`weight`, `member ${m.id}: expected a finite weight >= 0, got ${m.weight}`);
      }
      if (weights.has(m.id)) throw invalid('id', `duplicate ring member ${m.id}`);
      weights.set(m.id, m.weight);
    }
    const ids = sorted.map((m) => m.id);
    const version = hash64Hex(
      `ring-v1 vnodes=${vnodes};` + sorted.map((m) => `${m.id}=${m.weight}`).join(','),
    );

    let counts = sorted.map((m) =>
      m.weight > 0 ? Math.max(1, Math.round((m.weight / REFERENCE_WEIGHT) * vnodes)) : 0,
    );
    const wanted = counts.reduce((s, c) => s + c, 0);
    if (wanted > MAX_POINTS) {
      const f = MAX_POINTS / wanted;
      counts = counts.map((c) => (c > 0 ? Math.max(1, Math.floor(c * f)) : 0));
    }
    const total = counts.reduce((s, c) => s + c, 0);

    const hi = new Uint32Array(total);
    const lo = new Uint32Array(total);
    const owner = new Uint32Array(total);
    let k = 0;
    let activeMembers = 0;
    for (let m = 0; m < ids.length; m++) {
      const id = ids[m] as string;
      const c = counts[m] ?? 0;
      if (c > 0) activeMembers++;
      // Label `${id}#${i}`: FNV-1a is streaming, so hash the `${id}#` prefix once.
      fnv1aInto(FNV_OFFSET[0], FNV_OFFSET[1], `${id}#`);
      const pHi = lastHi();
      const pLo = lastLo();
      for (let i = 0; i < c; i++) {
        fnv1aInto(pHi, pLo, String(i));
        fmix64Into(lastHi(), lastLo());
        hi[k] = lastHi();
        lo[k] = lastLo();
        owner[k] = m;
        k++;
      }
    }
    // Stable sort by (hi, lo): ties keep insertion order, i.e. member id then label index, so even
    // equal point hashes order deterministically. O(points), no comparator calls.
    radixSort(hi, lo, owner);
    return new HashRing(Object.freeze(ids), weights, vnodes, version, hi, lo, owner, activeMembers);
  }

  /** Weight a member was built with, or undefined for a non-member. */
  weightOf(id: string): number | undefined {
    return this.#weights.get(id);
  }

  /** Index of the first point ≥ (hi, lo), wrapping to 0. Requires size > 0. */
  #search(hi: number, lo: number): number {
    const H = this.#hi;
    const L = this.#lo;
    let a = 0;
    let b = this.size;
    while (a < b) {
      const mid = (a + b) >>> 1;
      const mh = H[mid] as number;
      if (mh < hi || (mh === hi && (L[mid] as number) < lo)) a = mid + 1;
      else b = mid;
    }
    return a === this.size ? 0 : a;
  }

  /** The member owning `key`, or undefined for an empty ring. Allocation-free: the hot-path form. */
  lookupId(key: string): string | undefined {
    if (this.size === 0) return undefined;
    hash64Into(key);
    return this.members[this.#owner[this.#search(lastHi(), lastLo())] as number];
  }

  /** The member owning `key` with the key's hash and ring position (for debug headers and logs). */
  lookup(key: string): RingHit | undefined {
    if (this.size === 0) return undefined;
    hash64Into(key);
    const hi = lastHi();
    const lo = lastLo();
    const position = this.#search(hi, lo);
    const backendId = this.members[this.#owner[position] as number] as string;
    return { backendId, keyHash: toHex64(hi, lo), position };
  }

  /**
   * Distinct members clockwise from the key's position; the first is `lookup(key).backendId`.
   * Every member that owns points is yielded exactly once. Failover, retries and overflow walk this.
   */
  *candidates(key: string): Generator<string, void, undefined> {
    if (this.size === 0) return;
    hash64Into(key);
    const start = this.#search(lastHi(), lastLo());
    const seen = new Uint8Array(this.members.length);
    let found = 0;
    for (let n = 0; n < this.size && found < this.#activeMembers; n++) {
      let p = start + n;
      if (p >= this.size) p -= this.size;
      const m = this.#owner[p] as number;
      if (seen[m] === 1) continue;
      seen[m] = 1;
      found++;
      yield this.members[m] as string;
    }
  }

  /** Fraction of the 64-bit hash space owned by each member (sums to 1; 0 for zero-weight members). */
  shares(): ReadonlyMap<string, number> {
    const acc = new Float64Array(this.members.length);
    const n = this.size;
    for (let i = 0; i < n; i++) {
      const prev = i === 0 ? n - 1 : i - 1;
      // Arc (prev, i]: keys hashing into it map to point i.
      let arc =
        ((this.#hi[i] as number) - (this.#hi[prev] as number)) * TWO_32 +
        ((this.#lo[i] as number) - (this.#lo[prev] as number));
      if (i === 0) arc += TWO_64; // wraps around (also makes a single-point ring own everything)
      const m = this.#owner[i] as number;
      acc[m] = (acc[m] as number) + arc / TWO_64;
    }
    const out = new Map<string, number>();
    this.members.forEach((id, m) => out.set(id, acc[m] ?? 0));
    return out;
  }
}

/**
 * Sorts (hi, lo, owner) triples in place by unsigned (hi, lo): stable LSD radix sort, 11/11/10-bit
 * digits per 32-bit word (small count tables stay in cache), moving the triples rather than indices
 * so reads stay sequential.
 */
function radixSort(hi: Uint32Array, lo: Uint32Array, owner: Uint32Array): void {
  const n = hi.length;
  let sHi: Uint32Array = hi;
  let sLo: Uint32Array = lo;
  let sOw: Uint32Array = owner;
  let dHi: Uint32Array = new Uint32Array(n);
  let dLo: Uint32Array = new Uint32Array(n);
  let dOw: Uint32Array = new Uint32Array(n);
  const count = new Uint32Array(2048);
  for (let pass = 0; pass < 6; pass++) {
    const useHi = pass >= 3;
    const shift = (pass % 3) * 11;
    const mask = pass % 3 === 2 ? 0x3ff : 0x7ff;
    const words = useHi ? sHi : sLo;
    count.fill(0);
    for (let i = 0; i < n; i++) {
      const d = ((words[i] as number) >>> shift) & mask;
      count[d] = (count[d] as number) + 1;
    }
    let sum = 0;
    for (let d = 0; d <= mask; d++) {
      const c = count[d] as number;
      count[d] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const d = ((words[i] as number) >>> shift) & mask;
      const to = count[d] as number;
      count[d] = to + 1;
      dHi[to] = sHi[i] as number;
      dLo[to] = sLo[i] as number;
      dOw[to] = sOw[i] as number;
    }
    [sHi, dHi] = [dHi, sHi];
    [sLo, dLo] = [dLo, sLo];
    [sOw, dOw] = [dOw, sOw];
  }
  // Six passes: the sorted data is back in the caller's arrays.
}

export interface BoundedPick {
  readonly backendId: string;
  /**
   * Allowed candidates passed over because they were at capacity before this one was chosen
   * (candidates skipped because `allowed` said no are not counted). 0 = the key's first allowed
   * candidate took it.
   */
  readonly spilled: number;
}

/**
 * Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam 2018):
 * capacity = ceil(balanceFactor × (totalLoad + 1) / healthyCount), where totalLoad sums `load` over
 * the allowed members and healthyCount counts them; walk `candidates(key)` and take the first allowed
 * one whose load is below capacity. With balanceFactor ≥ 1 and consistent loads such a member always
 * exists; if none does (inconsistent load readings, factor < 1), the least-loaded allowed member is
 * returned with `spilled` = every allowed member. Undefined when no member is allowed.
 *
 * Cost: O(N) `load`/`allowed` calls to compute the bound plus the walk.
 */
export function pickBounded(
  ring: HashRing,
  key: string,
  load: (id: string) => number,
  allowed: (id: string) => boolean,
  balanceFactor: number,
): BoundedPick | undefined {
  let total = 0;
  let healthy = 0;
  for (const id of ring.members) {
    if ((ring.weightOf(id) ?? 0) <= 0 || !allowed(id)) continue;
    healthy++;
    total += load(id);
  }
  if (healthy === 0) return undefined;
  const capacity = Math.ceil((balanceFactor * (total + 1)) / healthy);
  let spilled = 0;
  let best: string | undefined;
  let bestLoad = Infinity;
  for (const id of ring.candidates(key)) {
    if (!allowed(id)) continue;
    const l = load(id);
    if (l < capacity) return { backendId: id, spilled };
    spilled++;
    if (l < bestLoad) {
      bestLoad = l;
      best = id;
    }
  }
  return best === undefined ? undefined : { backendId: best, spilled };
}
