// Envoy-style circuit breakers per backend (this process's counts): max connections, max pending
// requests, max requests and max retries (proxy.circuitBreakers). The selector asks `refuses` for
// each backend it considers, so a backend at a limit is passed over for the next candidate, and a
// request only gets a 503 when every candidate is refused. The checks read two counters kept on
// the Upstream; only a trip touches a metric.
import type { DeepReadonly } from '../../config/load.js';
import type { ProxyConfig } from '../../config/proxy-schema.js';
import type { UpstreamSet, Upstream } from './upstreams.js';

export type BreakerLimit = 'max_connections' | 'max_pending_requests' | 'max_requests' | 'max_retries';

export type BreakerLimits = DeepReadonly<ProxyConfig['circuitBreakers']>;

/** Where trips are counted (ProxyMetrics). */
export interface TripSink {
  circuitBreakerTrip(backend: string, limit: BreakerLimit): void;
}

export class CircuitBreakers {
  /** In-flight count at which one more request would wait for a connection beyond the pending cap. */
  private readonly pendingCeiling: number;

  constructor(
    private readonly limits: BreakerLimits,
    private readonly upstreams: UpstreamSet,
    private readonly trips: TripSink,
  ) {
    this.pendingCeiling = limits.maxConnections + limits.maxPendingRequests;
  }

  /** The limit that refuses one more request to backend `id` (a retry when `retry`), else undefined. */
  refuses(id: string, retry: boolean): BreakerLimit | undefined {
    const upstream = this.upstreams.get(id);
    if (upstream === undefined) return undefined;
    let limit: BreakerLimit | undefined;
    if (upstream.inFlight >= this.limits.maxRequests) limit = 'max_requests';
    else if (upstream.inFlight >= this.pendingCeiling) limit = 'max_pending_requests';
    else if (retry && upstream.retriesInFlight >= this.limits.maxRetries) limit = 'max_retries';
    if (limit !== undefined) this.trips.circuitBreakerTrip(id, limit);
    return limit;
  }

  /**
   * A request was just dispatched to `upstream` (its in-flight count includes it): beyond
   * maxConnections it waits for a connection (the pool's cap), which counts as a trip.
   */
  dispatched(upstream: Upstream): void {
    if (upstream.inFlight > this.limits.maxConnections)
      this.trips.circuitBreakerTrip(upstream.id, 'max_connections');
  }
}
