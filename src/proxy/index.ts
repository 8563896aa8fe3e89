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
//
// Region health reports go to the state store, or with `proxy.report.api` to a node's admin API
// with a `reporter` token (health/api-sink.ts); in cluster mode the primary posts the workers' reports.
import { availableParallelism } from 'node:os';
import type { DeepReadonly } from '../config/load.js';
import type { ProxyConfig } from '../config/proxy-schema.js';
import { WorkerMetrics } from '../cluster/metrics.js';
import { startProxyCluster } from './cluster.js';
import { ApiHealthSink } from './health/api-sink.js';
import { startLocalProxy } from './local.js';
import { checkBalancerName } from './selection/registry.js';
import type { ProxyOptions, ProxyService } from './types.js';

export type { ProxyAddress, ProxyOptions, ProxyPolicies, ProxyService } from './types.js';

/** What the config layer cannot check because it does not know the tier's plug-ins (E_CONFIG). */
export function checkProxyConfig(config: DeepReadonly<ProxyConfig>): void {
  checkBalancerName(config.balancer, 'proxy.balancer');
}

export function proxyWorkerCount(config: DeepReadonly<ProxyConfig>): number {
  return config.workers === 0 ? availableParallelism() : config.workers;
}

/** `service` with its own close replaced by `close` (which calls it). */
function withClose(service: ProxyService, close: ProxyService['close']): ProxyService {
  return {
    clustered: service.clustered,
    close,
    addresses: () => service.addresses(),
    backendStates: () => service.backendStates(),
    proxyMetrics: () => service.proxyMetrics(),
  };
}

/**
 * A proxy answering in this process is the tier's one worker (the supervisor counts cluster
 * workers): running until it is closed.
 */
function countedAsOneWorker(options: ProxyOptions, service: ProxyService): ProxyService {
  const metrics = new WorkerMetrics(options.registry, 'proxy', 1);
  metrics.setRunning(1);
  return withClose(service, async (o) => {
    metrics.setRunning(0);
    await service.close(o);
  });
}

export async function startProxy(options: ProxyOptions): Promise<ProxyService> {
  const workers = proxyWorkerCount(options.config);
  const reportApi = options.config.report.api;
  if (reportApi === undefined) {
    if (workers > 1) return startProxyCluster({ ...options, workers });
    return countedAsOneWorker(options, await startLocalProxy(options));
  }
  const sink = ApiHealthSink.fromConfig(reportApi, options.resolvePath);
  let service: ProxyService;
  try {
    const withSink = { ...options, healthSink: sink };
    service =
      workers > 1
        ? await startProxyCluster({ ...withSink, workers })
        : countedAsOneWorker(options, await startLocalProxy(withSink));
  } catch (err) {
    await sink.close();
    throw err;
  }
  // The final report goes out during close, so the sink's connections close after it.
  return withClose(service, async (o) => {
    await service.close(o);
    await sink.close();
  });
}
