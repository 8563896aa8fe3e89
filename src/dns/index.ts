// Entry point of the DNS tier: `startDns` answers in this process (`workers: 1`) or starts workers
// that answer (`workers: 0` = one per core, or > 1; node:cluster processes or worker threads,
// `workerKind`), pushing every state snapshot to them.
//
// Metrics: with `workers: 1` the DNS metrics are registered in the registry passed in (and
// `dnsMetrics()` returns just them). In cluster mode the workers hold them; the registry passed in
// gets none, and the admin API must append `await dns.dnsMetrics()` (the workers' metrics,
// aggregated by the supervisor) to its /metrics output. `dns.clustered` says
// which case applies.
import { availableParallelism } from 'node:os';
import { Registry } from 'prom-client';
import type { DnsConfig } from '../config/dns-schema.js';
import type { DeepReadonly } from '../config/load.js';
import { parseHostPort } from '../config/primitives.js';
import { WorkerMetrics } from '../cluster/metrics.js';
import { MeridianError } from '../core/errors.js';
import { startCluster } from './cluster.js';
import { createRuntime } from './runtime.js';
import { Notifier } from './xfer/notify.js';
import type { DnsService, StartDnsOptions } from './types.js';
import { followZones } from './zone-follow.js';
import { DnsListeners, type ListenSpec } from './transport/server.js';
import { dnssecKeyOpener } from './dnssec/key-opener.js';

export type { ExplainQuery, ExplainResult } from './answer/explain.js';
export type { BoundAddress } from './transport/server.js';

export type { DnsService, StartDnsOptions } from './types.js';

export function listenSpecs(config: DeepReadonly<DnsConfig>): ListenSpec[] {
  return config.listen.map((text, i) => {
    const hp = parseHostPort(text);
    if (hp === undefined) {
      throw new MeridianError(
        'E_CONFIG',
        `dns.listen[${i}]: expected host:port, got ${JSON.stringify(text)}`,
        {
          field: `dns.listen[${i}]`,
        },
      );
    }
    return hp;
  });
}

export function workerCount(config: DeepReadonly<DnsConfig>): number {
  return config.workers === 0 ? availableParallelism() : config.workers;
}

export async function startDns(options: StartDnsOptions): Promise<DnsService> {
  const { store, startedAt } = options;
  const logger = options.logger.child({ component: 'dns' });
  // Paths in the config are relative to the config file; answering units get them resolved.
  const geo = options.config.geo;
  const config: DeepReadonly<DnsConfig> =
    geo?.snapshotDir === undefined
      ? options.config
      : { ...options.config, geo: { ...geo, snapshotDir: options.resolvePath(geo.snapshotDir) } };
  const specs = listenSpecs(config);
  const geoPaths = (config.geo?.databases ?? []).map((p) => options.resolvePath(p));
  const workers = workerCount(config);
  // The key ring's source with the key file's path resolved, for this process and the workers.
  const secrets =
    options.secrets?.keyFile === undefined
      ? options.secrets
      : { ...options.secrets, keyFile: options.resolvePath(options.secrets.keyFile) };
  const openSealed = dnssecKeyOpener(secrets);

  if (workers > 1) {
    return startCluster({
      config,
      geoPaths,
      specs,
      store,
      ...(options.zones === undefined ? {} : { zones: options.zones }),
      logger,
      startedAt,
      workers,
      secrets,
      openSealed,
      registry: options.registry,
      ...(options.onGeoReloadError === undefined ? {} : { onGeoReloadError: options.onGeoReloadError }),
      onWorkerTrouble: options.onWorkerTrouble,
    });
  }

  const dnsRegistry = new Registry();
  const initialZones = options.zones?.current() ?? config.zones;
  const notifier = new Notifier({ config, logger });
  const runtime = await createRuntime({
    config,
    zones: initialZones,
    geoPaths,
    snapshot: () => store.current(),
    logger,
    registries: [options.registry, dnsRegistry],
    startedAt,
    serving: true,
    onZonesCompiled: (previous, next) => notifier.zonesCompiled(previous, next),
    openSealed,
    ...(options.onGeoReloadError === undefined ? {} : { onGeoReloadError: options.onGeoReloadError }),
  });
  let listeners: DnsListeners;
  try {
    listeners = await DnsListeners.start(specs, {
      handler: (msg, client, transport) => runtime.transfers.handle(msg, client, transport),
      tcpMultiHandler: (msg, client) => runtime.transfers.handleTcp(msg, client),
      logger,
      tcpIdleTimeoutMs: config.tcpIdleTimeoutMs,
      udpBatching: config.udpBatching,
    });
  } catch (err) {
    await runtime.close();
    notifier.close();
    throw err;
  }
  notifier.activate();
  // This process is the tier's one worker.
  const workerMetrics = new WorkerMetrics(options.registry, 'dns', 1);
  workerMetrics.setRunning(1);
  runtime.metrics?.setUdpStatsSource(() => listeners.udpStats());
  const unfollowZones = followZones(options.zones, initialZones, (zones) => runtime.setZones(zones), logger);
  logger.info(
    { addresses: listeners.addresses(), zones: runtime.responder.zones.zones.length },
    'DNS listening',
  );
  let closed = false;
  return {
    clustered: false,
    addresses: () => listeners.addresses(),
    explain: (q) => runtime.responder.explain(q),
    dnsMetrics: () => dnsRegistry.metrics(),
    recheckGeo: async () => {
      await runtime.locator?.reloadNow();
    },
    close: async () => {
      if (closed) return;
      closed = true;
      unfollowZones();
      notifier.close();
      await listeners.close();
      workerMetrics.setRunning(0);
      await runtime.close();
    },
  };
}
