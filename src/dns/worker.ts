// Entry file of a DNS worker (a node:cluster process or a worker thread). It answers queries only:
// the state comes from the primary (snapshots applied to a ReplicaStateStore by
// src/cluster/worker.ts), the geo databases are opened here (mapped once per process, so threads
// share them). Metrics live in this worker's registry and go to the primary on request.
import cluster from 'node:cluster';
import { threadId } from 'node:worker_threads';
import { Registry } from 'prom-client';
import { isTierWorker } from '../cluster/launch.js';
import { isMessage } from '../cluster/ipc.js';
import { runWorker } from '../cluster/worker.js';
import { describeError } from '../core/errors.js';
import { createLogger, type Logger } from '../infra/logger.js';
import { ReplicaStateStore } from '../storage/snapshot-codec.js';
import {
  DNS_PROTOCOL,
  MSG_GEO_RECHECK,
  MSG_ZONES,
  type GeoRecheckMessage,
  type InitMessage,
  type ZonesMessage,
} from './ipc.js';
import { createRuntime, type Runtime } from './runtime.js';
import { DnsListeners, type BoundAddress } from './transport/server.js';
import { dnssecKeyOpener } from './dnssec/key-opener.js';

let log: Logger | undefined;
let runtime: Runtime | undefined;
let listeners: DnsListeners | undefined;
/** The latest zones from the primary: a change that arrives while the runtime is being built is applied after. */
let latestZones: InitMessage['zones'] | undefined;

function applyZones(zones: InitMessage['zones']): void {
  latestZones = zones;
  if (runtime === undefined) return;
  try {
    runtime.setZones(zones);
  } catch (err) {
    log?.error({ err: describeError(err) }, 'zone change not applied: the previous zones keep serving');
  }
}

let registry: Registry | undefined;

if (isTierWorker('DNS')) {
  runWorker<InitMessage, ReplicaStateStore, BoundAddress>('DNS', DNS_PROTOCOL, {
    logger: (msg) =>
      createLogger(msg.logLevel).child({ component: 'dns', worker: cluster.worker?.id ?? threadId }),
    replica: (options) => new ReplicaStateStore(options),
    async start(msg, replica, logger) {
      log = logger;
      const own = new Registry();
      registry = own;
      latestZones ??= msg.zones;
      const unit = await createRuntime({
        config: msg.config,
        zones: msg.zones,
        geoPaths: msg.geoPaths,
        snapshot: () => replica.current(),
        logger,
        registries: [own],
        startedAt: msg.startedAt,
        serving: true,
        // The worker's own key ring (the primary sends where it comes from, never the keys).
        openSealed: dnssecKeyOpener(msg.secrets),
      });
      runtime = unit;
      if (latestZones !== msg.zones) applyZones(latestZones);
      listeners = await DnsListeners.start(msg.listen, {
        handler: (m, client, transport) => unit.transfers.handle(m, client, transport),
        tcpMultiHandler: (m, client) => unit.transfers.handleTcp(m, client),
        logger,
        tcpIdleTimeoutMs: msg.config.tcpIdleTimeoutMs,
        udpBatching: msg.config.udpBatching,
        tcpReusePort: msg.tcpReusePort,
        // Every worker binds its own UDP socket on the primary's concrete port; the kernel spreads
        // the packets across them at random (node:dgram sockets are shared through the primary).
        reusePort: true,
        reusePortGroup: msg.workers,
      });
      const bound = listeners;
      unit.metrics?.setUdpStatsSource(() => bound.udpStats());
      return listeners.addresses();
    },
    message(message) {
      if (isMessage<ZonesMessage>(message, MSG_ZONES)) {
        applyZones(message.zones);
        return;
      }
      if (!isMessage<GeoRecheckMessage>(message, MSG_GEO_RECHECK)) return;
      runtime?.locator?.reloadNow().catch((err: unknown) => {
        log?.warn({ err: describeError(err) }, 'geo re-check failed: keeping the loaded databases');
      });
    },
    metrics: async () => (await registry?.getMetricsAsJSON()) ?? [],
    async close() {
      await listeners?.close();
      await runtime?.close();
    },
  });
}
