// Entry point of the regional proxy tier. `startProxy` is what `meridian serve` calls: with
// `workers: 1` the proxy runs in this process (local.ts); with `workers: 0` (one per core) or
// `> 1` the primary forks node:cluster workers that each run a complete proxy on the shared listen
// sockets, fed with every state snapshot over IPC, and writes their region health reports to the
// store under `${reporterId}/w${n}` (cluster.ts).
//
// Metrics: with `workers: 1` the proxy's metrics are registered in the registry passed in, and
// `proxyMetrics()` returns just them. In cluster mode the workers hold them; the registry passed in
// gets none, and the admin API must append `await proxy.proxyMetrics()` (aggregated over the
// proxy's workers) to its /metrics output. `proxy.clustered` says which case applies.
//
// Traffic policies (`policies`): every request is checked by a PolicyEngine for this region before a
// backend is picked (WAF, rate limits, quotas; bandwidth limits pace response bodies). With workers,
// the primary pushes the store's policies to each worker over IPC and each worker runs its own
// engine (and, for cluster-wide limits, its own Redis connection): see policies.ts. Local rate
// limits and bandwidth limits then count per worker; `mode: cluster` limits and quotas with Redis
// stay cluster-wide.
import { availableParallelism } from 'node:os';
import type { Registry } from 'prom-client';
import type { DeepReadonly } from '../config/load.js';
import type { QuotaPeriod } from '../config/policy-schema.js';
import type { ProxyConfig } from '../config/proxy-schema.js';
import type { BackendHealth } from '../core/types.js';
import type { Logger } from '../infra/logger.js';
import type { RedisConnection } from '../infra/redis/lua-script.js';
import type { PolicyStore } from '../storage/policy-store.js';
import type { StateStore } from '../storage/state-store.js';
import { startProxyCluster } from './cluster.js';
import { startLocalProxy } from './local.js';

export interface ProxyPolicies {
  readonly store: PolicyStore;
  /** For `mode: cluster` rate limits and cluster-wide quotas; without it they count per process. */
  readonly redis?: RedisConnection | undefined;
  /** Same as `state.redis.keyPrefix`. */
  readonly keyPrefix: string;
  /** Shortened quota periods (tests only). */
  readonly quotaPeriodMs?: Partial<Record<QuotaPeriod, number>> | undefined;
}

export interface ProxyOptions {
  readonly config: DeepReadonly<ProxyConfig>;
  readonly store: StateStore;
  readonly logger: Logger;
  readonly registry: Registry;
  /** This proxy's name in region health reports (one report per reporter; `/w<n>` per worker). */
  readonly reporterId: string;
  /** Resolves paths from the config (TLS files) relative to the config file. */
  readonly resolvePath: (p: string) => string;
  /** Traffic policies enforced on every request; omitted = none. */
  readonly policies?: ProxyPolicies | undefined;
}

export interface ProxyAddress {
  readonly protocol: 'http' | 'https';
  readonly host: string;
  readonly port: number;
}

export interface ProxyService {
  /** Whether requests are served by node:cluster workers (metrics then come from `proxyMetrics`). */
  readonly clustered: boolean;
  /**
   * Stops accepting, sends a final region report with no healthy backend (so DNS stops sending
   * clients here), lets in-flight requests finish for up to `graceMs` (default 10 s), then closes
   * whatever is left.
   */
  close(options?: { graceMs?: number }): Promise<void>;
  addresses(): ProxyAddress[];
  /** Backend health in this proxy's view (in cluster mode: as last reported by the workers). */
  backendStates(): BackendHealth[];
  /** The proxy's metrics in Prometheus text format (aggregated over the workers in cluster mode). */
  proxyMetrics(): Promise<string>;
}

export function proxyWorkerCount(config: DeepReadonly<ProxyConfig>): number {
  return config.workers === 0 ? availableParallelism() : config.workers;
}

export async function startProxy(options: ProxyOptions): Promise<ProxyService> {
  const workers = proxyWorkerCount(options.config);
  if (workers > 1) return startProxyCluster({ ...options, workers });
  return startLocalProxy(options);
}
