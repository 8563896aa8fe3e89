// Cluster mode: the primary starts workers that answer queries (node:cluster processes, or worker
// threads with `workerKind: thread`), and pushes every state snapshot to them
// (src/cluster/supervisor.ts). The primary keeps an answering unit without sockets for `explain`.
//
// Sockets: with the UDP batching addon (dns.udpBatching, the default) every worker binds its own UDP
// socket on the same concrete port with SO_REUSEPORT, and the kernel spreads the packets across them
// (no shared-socket wake-ups). Without it, process workers share the primary's node:dgram sockets
// through node:cluster (node:dgram cannot set SO_REUSEPORT in Node 20), and thread workers are not
// possible: the node runs process workers and says so. TCP: process workers take turns on the
// primary's listener through node:cluster; thread workers cannot share a node:net listener, so each
// opens its own SO_REUSEPORT TCP socket through the addon and the kernel spreads the connections.
import type { Registry } from 'prom-client';
import { WorkerMetrics } from '../cluster/metrics.js';
import { Supervisor } from '../cluster/supervisor.js';
import type { WorkerTrouble } from '../core/types.js';
import type { DnsConfig } from '../config/dns-schema.js';
import type { DeepReadonly } from '../config/load.js';
import type { SecretsConfig } from '../config/secrets-schema.js';
import type { OpenSealed } from './dnssec/zone-keys.js';
import type { Logger } from '../infra/logger.js';
import type { StateStore } from '../storage/state-store.js';
import type { DnsService, ZoneSource } from './types.js';
import { followZones } from './zone-follow.js';
import { DNS_PROTOCOL, MSG_GEO_RECHECK, MSG_ZONES, type InitMessage, type PrimaryMessage } from './ipc.js';
import { createRuntime } from './runtime.js';
import { Notifier } from './xfer/notify.js';
import { pickFreePort, type BoundAddress, type ListenSpec } from './transport/server.js';
import { loadUdpBatch, udpBatchLoadError } from './transport/udp-batch.js';
import type { WorkerKind } from '../cluster/launch.js';

/** A failed worker restart is tried again this much later. */
const RESTART_RETRY_MS = 5_000;
/** The DNS workers' V8 semi-space size, MB (see the supervisor's v8Flags below). */
const WORKER_SEMI_SPACE_MB = 4;

export interface ClusterOptions {
  readonly config: DeepReadonly<DnsConfig>;
  readonly geoPaths: readonly string[];
  readonly specs: readonly ListenSpec[];
  readonly store: StateStore;
  readonly zones?: ZoneSource;
  readonly logger: Logger;
  readonly startedAt: number;
  readonly workers: number;
  /** The primary's own explain unit watches the same files, so it alone reports reload failures. */
  readonly onGeoReloadError?: (path: string, err: unknown) => void;
  /** The key ring's source (key file path resolved): each worker opens the DNSSEC keys itself. */
  readonly secrets: DeepReadonly<SecretsConfig> | undefined;
  /** The primary's opener, for its explain unit. */
  readonly openSealed: OpenSealed | undefined;
  /** The node's registry: the supervisor's worker counts go there. */
  readonly registry: Registry;
  readonly onWorkerTrouble?: ((trouble: WorkerTrouble) => void) | undefined;
}

export async function startCluster(options: ClusterOptions): Promise<DnsService> {
  const { config, store, logger, startedAt } = options;
  const initialZones = options.zones?.current() ?? config.zones;
  // The primary alone sends NOTIFY (its explain unit compiles the same zones as the workers).
  const notifier = new Notifier({ config, logger });
  const explainUnit = await createRuntime({
    config,
    zones: initialZones,
    geoPaths: options.geoPaths,
    snapshot: () => store.current(),
    logger,
    registries: [],
    startedAt,
    serving: false,
    onZonesCompiled: (previous, next) => notifier.zonesCompiled(previous, next),
    openSealed: options.openSealed,
    ...(options.onGeoReloadError === undefined ? {} : { onGeoReloadError: options.onGeoReloadError }),
  });
  // Port 0 is resolved here, so that every worker (and a restarted one) binds the port the others
  // share: with SO_REUSEPORT each worker's own bind of port 0 would pick a different port.
  const listen: ListenSpec[] = [];
  for (const spec of options.specs)
    listen.push(spec.port === 0 ? { host: spec.host, port: await pickFreePort(spec.host) } : spec);

  const kind = workerKindFor(config, logger);
  const supervisor = new Supervisor<InitMessage, BoundAddress, PrimaryMessage>(
    {
      tier: 'DNS',
      protocol: DNS_PROTOCOL,
      entry: new URL('./worker.js', import.meta.url),
      workers: options.workers,
      store,
      logger,
      // The workers' own logs carry their node:cluster or thread id.
      naming: 'cluster-id',
      // A slot left empty after a failed restart would lose its share of the work: keep trying.
      restartRetryMs: RESTART_RETRY_MS,
      // A worker's young generation grows to 2 x 16 MB semi-spaces by default, of which a query's
      // short-lived garbage uses a few MB: capped at 4 MB each, a worker holds 25-30 MB less RSS for
      // 3-5 % more CPU at peak (bench-dns). NODE_OPTIONS=--max-semi-space-size=N overrides it.
      v8Flags: [`--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`],
      kind,
      // V8 sizes the young generation as 3 semi-spaces (two for scavenges, one for large objects).
      threadYoungGenerationMb: 3 * WORKER_SEMI_SPACE_MB,
      metrics: new WorkerMetrics(options.registry, 'dns', options.workers),
      ...(options.onWorkerTrouble === undefined ? {} : { onTrouble: options.onWorkerTrouble }),
    },
    {
      init: (_slot, snapshot) => ({
        type: DNS_PROTOCOL.init,
        config,
        geoPaths: options.geoPaths,
        listen,
        workers: options.workers,
        tcpReusePort: kind === 'thread',
        startedAt,
        logLevel: logger.level,
        snapshot,
        zones: options.zones?.current() ?? config.zones,
        secrets: options.secrets,
      }),
    },
  );
  // Zone changes: the primary's explain unit and every worker that got its init (later workers get
  // the zones in their init).
  const unfollowZones = followZones(
    options.zones,
    initialZones,
    (zones) => {
      explainUnit.setZones(zones);
      supervisor.broadcast({ type: MSG_ZONES, zones });
    },
    logger,
  );
  let closing = false;
  const stop = async (): Promise<void> => {
    closing = true;
    unfollowZones();
    notifier.close();
    await supervisor.stop();
    await explainUnit.close();
  };

  try {
    await supervisor.start();
  } catch (err) {
    await stop();
    throw err;
  }
  logger.info(
    { workers: options.workers, workerKind: kind, addresses: supervisor.addresses() },
    'DNS listening (cluster)',
  );
  notifier.activate();

  return {
    clustered: true,
    addresses: () => supervisor.addresses().map((a) => ({ ...a })),
    explain: (q) => explainUnit.responder.explain(q),
    dnsMetrics: () => supervisor.metrics(),
    recheckGeo: async () => {
      supervisor.broadcast({ type: MSG_GEO_RECHECK });
      await explainUnit.locator?.reloadNow();
    },
    close: async () => {
      if (closing) return;
      await stop();
    },
  };
}

/** The kind configured, unless threads cannot share the UDP port here (no batching addon). */
function workerKindFor(config: DeepReadonly<DnsConfig>, logger: Logger): WorkerKind {
  if (config.workerKind !== 'thread') return 'process';
  if (config.udpBatching && loadUdpBatch() !== undefined) return 'thread';
  logger.warn(
    { err: config.udpBatching ? udpBatchLoadError() : 'dns.udpBatching is off' },
    'DNS thread workers (dns.workerKind) need the UDP batching addon to share the UDP port ' +
      '(SO_REUSEPORT): running process workers instead',
  );
  return 'process';
}
