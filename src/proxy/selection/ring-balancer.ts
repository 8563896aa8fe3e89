// Backend selection: one immutable consistent-hash ring over the region's active and draining
// backends, rebuilt whenever the backend set changes. Health is a filter applied while walking the
// ring from the key's home position, so a key whose backend is out goes to the next distinct
// backend clockwise and returns home as soon as its backend recovers. Below the panic threshold
// health is ignored (Envoy's panic mode). Pure apart from the ring.
import { HashRing, pickBounded } from '../../core/ring.js';
import type { Backend, LifecycleState } from '../../core/types.js';

export interface SelectionEnv {
  isHealthy(id: string): boolean;
  /** Requests pending and running on the backend. */
  load(id: string): number;
  /** True when the backend's circuit is open (too many pending requests). */
  saturated(id: string): boolean;
  /** Ignore health (too few healthy backends). */
  readonly panic: boolean;
  /** Bounded-load factor (Mirrokni et al.), or undefined for the plain ring walk. */
  readonly balanceFactor: number | undefined;
}

export interface Selection {
  readonly backendId: string;
  /** Distinct backends passed over before this one (unhealthy, tried, saturated or load-bounded). */
  readonly spilled: number;
}

export type NoSelection = 'no-backends' | 'no-healthy' | 'saturated' | 'exhausted';

const USABLE = 0;
const INELIGIBLE = 1;
const SATURATED = 2;

export class Balancer {
  readonly ring: HashRing;
  /** Backends in the ring (active and draining) by id. */
  readonly backends: ReadonlyMap<string, Backend>;
  /** Number of active backends (the denominator of the panic threshold). */
  readonly activeCount: number;

  private constructor(ring: HashRing, backends: ReadonlyMap<string, Backend>, activeCount: number) {
    this.ring = ring;
    this.backends = backends;
    this.activeCount = activeCount;
  }

  /** Active and draining backends with a positive weight form the ring; disabled ones are left out. */
  static build(all: Iterable<Backend>, vnodes: number | undefined): Balancer {
    const members = new Map<string, Backend>();
    let active = 0;
    for (const b of all) {
      if (b.state === 'disabled' || !(b.weight > 0)) continue;
      members.set(b.id, b);
      if (b.state === 'active') active++;
    }
    const list = [...members.values()].map((b) => ({ id: b.id, weight: b.weight }));
    const ring = HashRing.build(list, vnodes === undefined ? undefined : { vnodes });
    return new Balancer(ring, members, active);
  }

  stateOf(id: string): LifecycleState | undefined {
    return this.backends.get(id)?.state;
  }

  /**
   * Picks a backend for `key`, walking clockwise from its home. `sticky` requests (an existing
   * session) may stay on a draining backend; new sessions never land on one. `exclude` holds
   * backends already tried for this request.
   */
  select(
    key: string,
    sticky: boolean,
    exclude: ReadonlySet<string> | undefined,
    env: SelectionEnv,
  ): Selection | NoSelection {
    if (this.ring.size === 0) return 'no-backends';
    // Fast path: the key's home backend is usable (no generator, no closure, no allocation).
    if (env.balanceFactor === undefined) {
      const home = this.ring.lookupId(key);
      if (home !== undefined && this.usable(home, sticky, exclude, env) === USABLE)
        return { backendId: home, spilled: 0 };
    }
    let sawSaturated = false;
    let sawEligible = false;
    const allowed = (id: string): boolean => {
      const verdict = this.usable(id, sticky, exclude, env);
      if (verdict !== INELIGIBLE) sawEligible = true;
      if (verdict === SATURATED) sawSaturated = true;
      return verdict === USABLE;
    };
    if (env.balanceFactor !== undefined) {
      const picked = pickBounded(this.ring, key, (id) => env.load(id), allowed, env.balanceFactor);
      if (picked !== undefined) return picked;
    } else {
      let spilled = 0;
      for (const id of this.ring.candidates(key)) {
        if (allowed(id)) return { backendId: id, spilled };
        spilled++;
      }
    }
    if (sawSaturated) return 'saturated';
    if (!sawEligible && (exclude === undefined || exclude.size === 0)) return 'no-healthy';
    return 'exhausted';
  }

  /** USABLE, INELIGIBLE (excluded, draining for a new session, unhealthy) or SATURATED. */
  private usable(
    id: string,
    sticky: boolean,
    exclude: ReadonlySet<string> | undefined,
    env: SelectionEnv,
  ): number {
    if (exclude?.has(id) === true) return INELIGIBLE;
    if (!sticky && this.backends.get(id)?.state === 'draining') return INELIGIBLE;
    if (!env.panic && !env.isHealthy(id)) return INELIGIBLE;
    return env.saturated(id) ? SATURATED : USABLE;
  }
}
