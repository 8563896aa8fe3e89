// The contract every load-balancing algorithm implements. Health filtering happens once, before
// any algorithm runs: callers pass only healthy, active candidates, and no algorithm re-checks
// health. Pure: imports nothing.

export interface Candidate {
  /** Stable backend id (never list position), so state and rings survive set changes. */
  readonly id: string;
  /** Relative share for weight-based algorithms; 0 = no share (unless every weight is 0). */
  readonly weight: number;
}

export interface PickContext {
  /** Affinity key (consistent hashing); absent when the request carries none. */
  readonly key?: string;
  /** Requests currently in flight to a backend (e.g. undici `pool.stats.running + pending`). */
  readonly inFlight: (id: string) => number;
  /** A uniform random number in [0, 1); injected so tests are reproducible. */
  readonly random: () => number;
}

export interface Balancer {
  /** The chosen candidate id, or undefined when there is no candidate. */
  pick(candidates: readonly Candidate[], ctx: PickContext): string | undefined;
  /** Reports one finished request (latency-aware algorithms learn from it; others ignore it). */
  observe?(id: string, latencyMs: number, ok: boolean): void;
}

export type BalancerFactory = () => Balancer;
