// The proxy tier's public types: what `meridian serve` passes in and gets back. Kept apart from
// index.ts so the in-process (local.ts) and clustered (cluster.ts) proxies can name them without an
// import cycle through the entry point.
import type { Registry } from 'prom-client';
import type { WorkerTrouble } from '../core/types.js';
import type { DeepReadonly } from '../config/load.js';
import type { QuotaPeriod } from '../config/policy-schema.js';
import type { ProxyConfig } from '../config/proxy-schema.js';
import type { BackendHealth } from '../core/types.js';
import type { Logger } from '../infra/logger.js';
import type { RedisConnection } from '../infra/redis/lua-script.js';
import type { PolicyStore } from '../storage/policy-store.js';
import type { StateStore } from '../storage/state-store.js';
import type { HealthSink } from './health/reporter.js';

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
  /** Where region health reports go (`proxy.report.api`: the admin API); default `store`. */
  readonly healthSink?: HealthSink | undefined;
  /** Told when a worker dies while serving or its replacement fails to start (alerts). */
  readonly onWorkerTrouble?: ((trouble: WorkerTrouble) => void) | undefined;
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
