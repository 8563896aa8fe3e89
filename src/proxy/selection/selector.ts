// The one selection path of the proxy. It keeps the region's pool (active and draining backends
// with a positive weight) and, on every membership or health change, filters it once into the
// candidate lists every algorithm sees: healthy active backends (all active ones in panic mode,
// Envoy-style, when fewer than `panicThresholdPercent` are healthy) and, for algorithms that place
// by session, the same plus draining ones for requests of an existing session. A pick then skips
// backends already tried by this request and backends a circuit breaker refuses (the engine's
// circuit-breakers.ts says which limit), asking the algorithm again among the rest. Nothing here
// awaits anything.
import type { Backend } from '../../core/types.js';
import type { Balancer, Candidate } from './types.js';

/** Why nothing could be picked. */
export type NoSelection = 'no-backends' | 'no-healthy' | 'saturated' | 'exhausted';

export interface SelectorOptions {
  readonly algorithm: Balancer;
  readonly isHealthy: (id: string) => boolean;
  /** Requests in flight to a backend from this proxy. */
  readonly inFlight: (id: string) => number;
  /**
   * The circuit-breaker limit that refuses one more request (`retry`: a retry) to a backend, or
   * undefined when it may take it.
   */
  readonly refuses: (id: string, retry: boolean) => string | undefined;
  readonly panicThresholdPercent: number;
  readonly random?: () => number;
}

/** The pick context, reused for every pick (the key changes per request: no allocation). */
interface SharedContext {
  key: string | undefined;
  members: readonly Candidate[];
  readonly inFlight: (id: string) => number;
  readonly random: () => number;
}

export class Selector {
  readonly algorithm: Balancer;
  /** Pool members (active and draining, positive weight) by id. */
  private pool: ReadonlyMap<string, Backend> = new Map();
  private members: readonly Candidate[] = [];
  /** Usable for any request. */
  private fresh: readonly Candidate[] = [];
  /** Usable for a request of an existing session (draining included when the algorithm has affinity). */
  private sticky: readonly Candidate[] = [];
  private readonly ctx: SharedContext;
  /** Active backends in the pool (the denominator of the panic threshold). */
  activeCount = 0;
  /** Active backends healthy in this proxy's view. */
  healthyActive = 0;
  panic = false;
  /** Why the last pick returned undefined. */
  failure: NoSelection = 'no-backends';
  /** With failure 'saturated': the circuit-breaker limit that refused the last candidate. */
  refusedBy = '';

  constructor(private readonly options: SelectorOptions) {
    this.algorithm = options.algorithm;
    this.ctx = {
      key: undefined,
      members: [],
      inFlight: options.inFlight,
      random: options.random ?? Math.random,
    };
  }

  get size(): number {
    return this.pool.size;
  }

  backends(): Backend[] {
    return [...this.pool.values()];
  }

  /** Replaces the pool; returns whether its members, weights or states changed. */
  setBackends(all: Iterable<Backend>): boolean {
    const next = new Map<string, Backend>();
    for (const b of all) if (b.state !== 'disabled' && b.weight > 0) next.set(b.id, b);
    if (samePool(this.pool, next)) return false;
    this.pool = next;
    this.members = [...next.values()]
      .map((b) => ({ id: b.id, weight: b.weight }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.ctx.members = this.members;
    this.refresh();
    return true;
  }

  /** Each member's share by construction (consistent_hash), for the share metric. */
  shares(): ReadonlyMap<string, number> | undefined {
    return this.algorithm.shares?.(this.members);
  }

  /**
   * Re-filters the candidates after a health change: the one place health, draining and panic
   * mode are applied. Returns whether panic mode started or ended.
   */
  refresh(): boolean {
    const isHealthy = this.options.isHealthy;
    let healthy = 0;
    let active = 0;
    for (const b of this.pool.values()) {
      if (b.state !== 'active') continue;
      active++;
      if (isHealthy(b.id)) healthy++;
    }
    this.activeCount = active;
    this.healthyActive = healthy;
    const panic = healthy > 0 && healthy * 100 < this.options.panicThresholdPercent * active;
    const panicChanged = panic !== this.panic;
    this.panic = panic;
    // One array per change, so algorithms that cache per candidate array rebuild only then.
    const fresh: Candidate[] = [];
    const sticky: Candidate[] = [];
    for (const m of this.members) {
      const b = this.pool.get(m.id);
      if (b === undefined || !(panic || isHealthy(m.id))) continue;
      if (b.state === 'active') fresh.push(m);
      sticky.push(m);
    }
    this.fresh = fresh.length === this.members.length ? this.members : fresh;
    this.sticky =
      this.algorithm.affinity === true
        ? sticky.length === this.members.length
          ? this.members
          : sticky
        : this.fresh;
    return panicChanged;
  }

  /**
   * Picks a backend for one attempt. `sticky`: the request belongs to an existing session (it may
   * stay on a draining backend); `tried`: backends this request already failed on; `retry`: the
   * pick is for a retry. Undefined when nothing can be picked, with the reason in `failure`.
   */
  pick(
    key: string | undefined,
    sticky: boolean,
    tried: ReadonlySet<string> | undefined,
    retry = false,
  ): string | undefined {
    if (this.pool.size === 0) return this.fail('no-backends');
    let list = sticky ? this.sticky : this.fresh;
    if (list.length === 0) return this.fail('no-healthy');
    if (tried !== undefined && tried.size > 0) {
      list = list.filter((c) => !tried.has(c.id));
      if (list.length === 0) return this.fail('exhausted');
    }
    const ctx = this.ctx;
    ctx.key = key;
    for (;;) {
      const id = this.algorithm.pick(list, ctx);
      if (id === undefined) return this.fail('exhausted');
      const refusedBy = this.options.refuses(id, retry);
      if (refusedBy === undefined) return id;
      // A circuit breaker refuses that one: choose among the others.
      this.refusedBy = refusedBy;
      list = list.filter((c) => c.id !== id);
      if (list.length === 0) return this.fail('saturated');
    }
  }

  private fail(reason: NoSelection): undefined {
    this.failure = reason;
    return undefined;
  }

  /** Why `id` was picked for `key` (debug header), or undefined when the algorithm cannot say. */
  explain(id: string, key: string | undefined): string | undefined {
    if (this.algorithm.explain === undefined) return undefined;
    const ctx = this.ctx;
    ctx.key = key;
    return this.algorithm.explain(id, ctx);
  }
}

function samePool(a: ReadonlyMap<string, Backend>, b: ReadonlyMap<string, Backend>): boolean {
  if (a.size !== b.size) return false;
  for (const [id, backend] of a) {
    const other = b.get(id);
    if (other === undefined || other.state !== backend.state || other.weight !== backend.weight) return false;
  }
  return true;
}
