// `meridian serve`: builds every component of one node from the configuration, in order, and closes
// them in reverse order. Kept linear on purpose: each tier is one numbered step.
import { parseHostPort } from '../config/primitives.js';
import { loadConfig, type DeepReadonly, type LoadedConfig } from '../config/load.js';
import { keyRingOpener } from '../infra/secrets/key-source.js';
import type { ZoneConfig } from '../config/dns-schema.js';
import { startAdminApi, type AdminApi } from '../api/server.js';
import { describeError } from '../core/errors.js';
import { createLogger, type Logger } from '../infra/logger.js';
import { createRegistry, type Registry } from '../infra/metrics/registry.js';
import { registerStateMetrics } from '../storage/state-metrics.js';
import { openStores } from '../storage/open.js';
import type { StateStore } from '../storage/state-store.js';
import { startDns, type DnsService } from '../dns/index.js';
import { canonicalName, ownerName } from '../core/dns-names.js';
import { probesOnNode, RegionProber } from '../dns/probes/prober.js';
import { healthPolicies } from '../config/region-health-schema.js';
import { checkProxyConfig, startProxy, type ProxyService } from '../proxy/index.js';
import { startOps, type OpsService } from '../ops/service.js';
import { auditSink } from '../ops/audit.js';
import { HealthVerdictWatcher, loggingVerdictSink, type HealthVerdictSink } from '../ops/health-verdicts.js';
import { opsRoutes } from '../api/ops-routes.js';
import { policyRoutes } from '../api/policy-routes.js';
import { policyServices, type PolicyServices } from './policies.js';
import { stateRoutes } from '../api/state-routes.js';
import { keysRoutes } from '../api/keys-routes.js';
import { zoneRoutes } from '../api/zone-routes.js';
import { dnssecRoutes } from '../api/dnssec-routes.js';
import { seedZones } from './zones.js';
import { historyRoutes } from '../api/history-routes.js';
import { openHistoryStore } from '../storage/open-history.js';
import { startHistory, type HistoryService } from '../ops/history/service.js';
import { historyVerdictSink } from '../ops/history/verdict-sink.js';
import { nodeRoutes } from '../api/node-routes.js';
import { backupRoutes } from '../api/backup-routes.js';
import { packageVersion } from '../config/install-paths.js';
import { startNodePresence } from '../ops/node-presence.js';
import { nodeRecord } from './node-record.js';
import { Autoscaler } from '../ops/autoscale/service.js';
import { checkAutoscaleConfig } from '../ops/autoscale/actuators/index.js';
import { autoscaleRoutes } from '../api/autoscale-routes.js';
import { consoleRoutes } from '../api/console/routes.js';

/** In-flight proxy requests get this long to finish on shutdown. */
const PROXY_SHUTDOWN_GRACE_MS = 10_000;

export interface ServeOptions {
  /** YAML file; undefined = built-in defaults. */
  configPath?: string;
  env?: NodeJS.ProcessEnv;
  /** Where the "listening on" lines go (default: stdout). Tests parse them to learn real ports. */
  print?: (line: string) => void;
  /** Receivers of region verdict changes besides the log (e.g. a health history store). */
  healthVerdictSinks?: readonly HealthVerdictSink[];
}

export interface RunningServer {
  readonly loaded: LoadedConfig;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly store: StateStore;
  /** Undefined when `api.enabled` is false. */
  readonly api: AdminApi | undefined;
  /** Undefined when `dns.enabled` is false. */
  readonly dns: DnsService | undefined;
  /** Undefined without a `proxy` section. */
  readonly proxy: ProxyService | undefined;
  readonly ops: OpsService;
  readonly policies: PolicyServices;
  /** Traffic and health history; `recordHealthEvent` takes events from other health sources. */
  readonly history: HistoryService;
  readonly autoscaler: Autoscaler;
  /** Closes every component in reverse start order. Safe to call twice. */
  close(): Promise<void>;
}

function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** `dns udp 127.0.0.1:5353`, `proxy http 0.0.0.0:8080`, `api http://127.0.0.1:8053`. */
function listenAddresses(
  dns: DnsService | undefined,
  proxy: ProxyService | undefined,
  api: AdminApi | undefined,
): string[] {
  return [
    ...(dns?.addresses() ?? []).map((a) => `dns ${a.transport} ${hostPort(a.host, a.port)}`),
    ...(proxy?.addresses() ?? []).map((a) => `proxy ${a.protocol} ${hostPort(a.host, a.port)}`),
    ...(api === undefined ? [] : [`api ${api.url}`]),
  ];
}

/** This process's metrics plus, in node:cluster mode, the tiers' workers' (aggregated). */
async function collectMetrics(
  registry: Registry,
  dns: DnsService | undefined,
  proxy: ProxyService | undefined,
): Promise<string> {
  const parts = [await registry.metrics()];
  if (dns?.clustered === true) parts.push(await dns.dnsMetrics());
  if (proxy?.clustered === true) parts.push(await proxy.proxyMetrics());
  return parts.filter((p) => p.trim() !== '').join('\n');
}

/** The balanced name the console's map shows decisions for: the zone store's first one, absolute. */
function firstBalancedName(zones: readonly DeepReadonly<ZoneConfig>[]): string | undefined {
  for (const zone of zones) for (const b of zone.balanced) return ownerName(b.name, canonicalName(zone.name));
  return undefined;
}

/** Throws MeridianError E_CONFIG for a bad configuration (the CLI exits 2 on it). */
export async function runServe(options: ServeOptions = {}): Promise<RunningServer> {
  const env = options.env ?? process.env;
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));

  // 1. Configuration (validated and frozen) and the process-wide logger and metrics registry.
  const loaded = loadConfig(options.configPath, env, keyRingOpener(env));
  const { config } = loaded;
  if (config.proxy !== undefined) checkProxyConfig(config.proxy);
  checkAutoscaleConfig(config.autoscale);
  const logger = createLogger(config.log.level).child({ node: loaded.nodeId });
  const registry = createRegistry();
  const startedAt = Date.now();

  // Components are pushed here as they start; close() pops them in reverse order.
  const closers: { name: string; close: () => Promise<void> }[] = [];
  const closeAll = async (): Promise<void> => {
    for (const { name, close } of closers.reverse()) {
      try {
        await close();
      } catch (err) {
        logger.error({ component: name, err: describeError(err) }, 'close failed');
      }
    }
    closers.length = 0;
  };

  try {
    // 2. Storage: the state, ops record, task and policy stores of the configured backend (memory:
    //    single node, file-backed; or Redis). A failed start releases what it opened itself.
    const stores = await openStores(loaded, logger, env);
    closers.push({ name: 'storage', close: () => stores.close() });
    const store = stores.state;
    registerStateMetrics(registry, store);
    // DNS zones: the YAML seeds the zone store on the first start only; the store wins afterwards.
    await seedZones(stores.zones, config.dns, logger);

    // 3. Operations records, alerts and scheduled tasks (needs the store; the DNS tier reports
    //    geo reload failures to it, so it starts first and learns the geo re-check afterwards).
    const healthGraceUntil = startedAt + config.dns.steering.healthGraceSeconds * 1000;
    const healthPolicy = healthPolicies(config.dns.steering.health);
    let dns: DnsService | undefined;
    const ops = await startOps({
      ops: config.ops,
      store,
      records: stores.records,
      tasks: stores.tasks,
      nodeId: loaded.nodeId,
      logger,
      registry,
      healthGraceUntil,
      healthPolicy,
      geoRecheck: async () => {
        if (dns !== undefined) await dns.recheckGeo();
      },
    });
    closers.push({ name: 'ops', close: () => ops.close() });
    // The memory store's audit outbox (region/backend writes, committed with the change) drains
    // into the ops records; Redis appends audit entries in its write scripts and has no sink.
    store.attachAuditSink?.(auditSink(ops.records));

    // This node in the node registry: refused here (E_CONFLICT) when a live node has its id, before
    // any tier listens; then a heartbeat that never blocks serving.
    const presence = await startNodePresence({
      registry: stores.nodes,
      record: nodeRecord(loaded, startedAt),
      heartbeatMs: config.nodes.heartbeatSeconds * 1000,
      ttlMs: config.nodes.expirySeconds * 1000,
      forgetAfterMs: config.nodes.forgetAfterHours * 3_600_000,
      alerts: ops.alerts,
      logger,
    });
    closers.push({ name: 'node registry', close: () => presence.close() });
    // Autoscaling: every node samples the regions' load; the holder of the store's lease decides.
    const autoscaler = new Autoscaler({
      config: config.autoscale,
      store: stores.autoscale,
      state: store,
      audit: ops.audit,
      alerts: ops.alerts,
      nodeId: loaded.nodeId,
      resolvePath: loaded.resolvePath,
      log: logger,
      registry,
    });
    autoscaler.start();
    closers.push({ name: 'autoscale', close: () => autoscaler.close() });

    // Traffic policies: managed through the admin API, enforced by the proxy tier.
    const policies = policyServices(stores);

    // 4. DNS tier.
    if (config.dns.enabled) {
      const started = await startDns({
        config: config.dns,
        resolvePath: loaded.resolvePath,
        store,
        zones: stores.zones,
        logger,
        registry,
        startedAt,
        onGeoReloadError: (path, err) => ops.alerts.geoReloadFailed(path, err),
        onWorkerTrouble: (trouble) => ops.alerts.workerTrouble(trouble),
        // Signed zones' private keys are opened with the node key ring in every answering process.
        secrets: config.secrets,
      });
      dns = started;
      closers.push({ name: 'dns', close: () => started.close() });
      for (const a of started.addresses())
        print(`meridian: DNS ${a.transport} on ${hostPort(a.host, a.port)}`);
      // DNS-side probes of `dns.steering.health.probes`: this node's votes, from its main process.
      if (probesOnNode(config.dns.steering.health, loaded.nodeId)) {
        const prober = new RegionProber({
          nodeId: loaded.nodeId,
          health: config.dns.steering.health,
          snapshot: () => store.current(),
          onChange: (listener) => store.onChange(listener),
          reportHealth: (report) => store.reportHealth(report),
          logger: logger.child({ component: 'probes' }),
        });
        prober.start();
        closers.push({ name: 'probes', close: () => Promise.resolve(prober.close()) });
      }
    }

    // 5. Proxy tier, for one region (when `config.proxy` is set).
    let proxy: ProxyService | undefined;
    if (config.proxy !== undefined) {
      const started = await startProxy({
        config: config.proxy,
        store,
        logger,
        registry,
        reporterId: loaded.nodeId,
        resolvePath: loaded.resolvePath,
        policies: { store: policies.store, redis: policies.redis, keyPrefix: policies.keyPrefix },
        onWorkerTrouble: (trouble) => ops.alerts.workerTrouble(trouble),
      });
      proxy = started;
      closers.push({ name: 'proxy', close: () => started.close({ graceMs: PROXY_SHUTDOWN_GRACE_MS }) });
      for (const a of started.addresses())
        print(`meridian: proxy ${a.protocol} on ${hostPort(a.host, a.port)}`);
    }

    // 5b. Traffic and health history: per-minute rollups of the tiers' own counters (sampled off
    //     the hot paths) and health changes, in the backend's history store.
    const historyStore = await openHistoryStore(loaded, stores, logger);
    closers.push({ name: 'history store', close: () => historyStore.close() });
    const history = startHistory({
      store: historyStore,
      config: config.ops.history,
      state: store,
      metrics: () => collectMetrics(registry, dns, proxy),
      proxyRegion: config.proxy?.region,
      graceUntil: healthGraceUntil,
      logger,
    });
    closers.push({ name: 'history', close: () => history.close() });

    // Region verdict changes (quorum + hysteresis): logged, stored in the health history, handed to
    // the other sinks, disagreement alerts.
    const verdicts = new HealthVerdictWatcher({
      store,
      policy: healthPolicy,
      graceUntil: healthGraceUntil,
      sinks: [
        loggingVerdictSink(logger),
        historyVerdictSink((e) => history.recordHealthEvent(e)),
        ...(options.healthVerdictSinks ?? []),
      ],
      raise: (alert, dedupe) => ops.alerts.raise(alert, dedupe),
      log: logger,
    });
    verdicts.start();
    closers.push({ name: 'health verdicts', close: () => Promise.resolve(verdicts.close()) });

    // 6. Admin API (last, so it never serves before the tiers it reports on exist).
    let api: AdminApi | undefined;
    if (config.api.enabled) {
      const listen = parseHostPort(config.api.listen);
      if (listen === undefined)
        throw new Error(`unreachable: api.listen ${config.api.listen} passed validation`);
      api = await startAdminApi({
        listen,
        store,
        token: config.api.token,
        access: stores.access,
        audit: ops.audit,
        metricsAuth: config.api.metricsAuth,
        sessionMinutes: config.api.sessionMinutes,
        ...(config.api.tls === undefined
          ? {}
          : {
              tls: {
                certFile: loaded.resolvePath(config.api.tls.cert),
                keyFile: loaded.resolvePath(config.api.tls.key),
                reloadCheckMs: config.api.tls.reloadCheckSeconds * 1000,
              },
            }),
        bodyLimitBytes: config.api.bodyLimitBytes,
        authFailures: config.api.authFailures,
        healthzDegradedStatus: config.api.healthzDegradedStatus,
        logger,
        registry,
        metrics: () => collectMetrics(registry, dns, proxy),
        healthGraceUntil,
        healthPolicy,
        ...(dns === undefined
          ? {}
          : { explain: (q: Parameters<DnsService['explain']>[0]) => dns?.explain(q) }),
        extraRoutes: [
          ...opsRoutes({ records: ops.records, scheduler: ops.scheduler, audit: ops.audit }),
          ...policyRoutes({ store: policies.store, quotas: policies.quotas, audit: ops.audit }),
          ...stateRoutes({ store, zones: stores.zones, policies: policies.store, audit: ops.audit }),
          ...keysRoutes({ keyRing: stores.keyRing, sealed: stores.sealed, audit: ops.audit }),
          ...zoneRoutes({ store: stores.zones, audit: ops.audit }),
          ...dnssecRoutes({ store: stores.zones, keyRing: stores.keyRing, audit: ops.audit }),
          ...historyRoutes({
            history,
            records: ops.records,
            snapshot: () => store.current(),
            pdf: {
              chromiumPath: config.ops.report.chromiumPath,
              timeoutMs: config.ops.report.pdfTimeoutSeconds * 1000,
            },
          }),
          ...nodeRoutes({ registry: stores.nodes }),
          ...backupRoutes({
            stores,
            records: ops.records,
            audit: ops.audit,
            node: loaded.nodeId,
            meridianVersion: packageVersion(),
          }),
          ...autoscaleRoutes({ autoscaler }),
          ...consoleRoutes({
            snapshot: () => store.current(),
            now: Date.now,
            healthGraceUntil,
            ...(dns === undefined ? {} : { explain: (q) => dns?.explain(q) }),
            balancedName: () => firstBalancedName(stores.zones.current()),
            healthPolicy,
            metrics: () => collectMetrics(registry, dns, proxy),
            audit: ops.audit,
          }),
        ],
      });
      const running = api;
      closers.push({ name: 'api', close: () => running.close() });
      print(`meridian: admin API on ${api.url}`);
      print(`meridian: console on ${api.url}/console`);
    }

    // The registry shows where the tiers really listen (ports chosen by the OS included).
    presence.update({ addresses: listenAddresses(dns, proxy, api) });

    logger.info(
      {
        config: loaded.path ?? '(built-in defaults)',
        state: store.status().kind,
        api: api === undefined ? null : api.url,
      },
      'meridian started',
    );

    let closing: Promise<void> | undefined;
    return {
      loaded,
      logger,
      registry,
      store,
      api,
      dns,
      proxy,
      ops,
      policies,
      history,
      autoscaler,
      close: () => {
        closing ??= closeAll().then(() => {
          logger.info('meridian stopped');
          logger.flush();
        });
        return closing;
      },
    };
  } catch (err) {
    await closeAll();
    logger.flush();
    throw err;
  }
}
