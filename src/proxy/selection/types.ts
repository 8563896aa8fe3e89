// The contract every load-balancing algorithm implements. Health filtering happens once, before
// any algorithm runs (selector.ts): callers pass only usable candidates (healthy, or all in panic
// mode; draining ones only for an existing session), and no algorithm re-checks health. Pure.

export interface Candidate {
  /** Stable backend id (never list position), so state and rings survive set changes. */
  readonly id: string;
  /** Relative share for weight-based algorithms; 0 = no share (unless every weight is 0). */
  readonly weight: number;
}

export interface PickContext {
  /** Affinity key (session cookie or header, else the client address); absent when there is none. */
  readonly key?: string | undefined;
  /**
   * Every member of the pool, usable or not (the candidates are a subset). consistent_hash builds
   * its ring from these, so a key whose home is out walks on to the next member clockwise and
   * comes back when it recovers; absent = the candidates are the whole pool.
   */
  readonly members?: readonly Candidate[] | undefined;
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
  /**
   * The algorithm places requests by `ctx.key` (sessions): draining backends stay candidates for
   * requests that carry an existing session.
   */
  readonly affinity?: boolean;
  /** Each member's share of keys by construction (for the share metric); absent = not meaningful. */
  shares?(members: readonly Candidate[]): ReadonlyMap<string, number>;
  /** Why `id` was picked for `ctx` (for the debug header), e.g. the key's hash and ring position. */
  explain?(id: string, ctx: PickContext): string;
}

export type BalancerFactory = () => Balancer;
