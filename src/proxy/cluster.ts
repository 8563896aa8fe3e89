// Cluster mode: the primary forks workers that each run a complete proxy for the region on the
// listen sockets node:cluster shares between them (round-robin over accepted connections). Every
// state snapshot is pushed to the workers over IPC; their region health reports come back over IPC
// and are written to the store here, under `${reporterId}/w${slot}` (a restarted worker takes its
// predecessor's slot, so it overwrites that report instead of leaving a stale one behind). Port 0 is
// resolved here first, so a worker restarted after all others died still gets the same port.
// Traffic policies follow the same path as snapshots: the primary pushes its policy store's list to
// every worker (at init, then on every change), and each worker enforces it with its own engine
// (policies.ts); so local rate limits and bandwidth limits count per worker.
import { createServer } from 'node:net';
import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMessage } from '../cluster/ipc.js';
import type { WorkerHandle } from '../cluster/launch.js';
import { WorkerMetrics } from '../cluster/metrics.js';
import { Supervisor, type Slot } from '../cluster/supervisor.js';
import type { DeepReadonly } from '../config/load.js';
import { parseHostPort } from '../config/primitives.js';
import type { ProxyConfig } from '../config/proxy-schema.js';
import { MeridianError, describeError } from '../core/errors.js';
import type { Policy } from '../config/policy-schema.js';
import type { BackendHealth, HealthReport } from '../core/types.js';
import type { ProxyAddress, ProxyOptions, ProxyService } from './types.js';
import { MSG_POLICIES, MSG_REPORT, MSG_REPORT_DONE, PROXY_PROTOCOL } from './ipc.js';
import type { InitMessage, PrimaryMessage, ReportMessage, WorkerPolicies } from './ipc.js';
import { redisConnectInfo } from './policies.js';

export interface ProxyClusterOptions extends ProxyOptions {
  readonly workers: number;
}

/** A failed restart is tried again this much later: an empty slot would leave its report stale. */
const RESTART_RETRY_MS = 5_000;

/** A TCP port free on `host` right now (bound, then released). */
function pickFreePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The config the workers get: port 0 replaced by a concrete free port, TLS paths resolved. */
async function workerConfig(options: ProxyClusterOptions): Promise<DeepReadonly<ProxyConfig>> {
  const { config } = options;
  const resolve = async (list: readonly string[], field: string): Promise<string[]> => {
    const out: string[] = [];
    for (const address of list) {
      const hp = parseHostPort(address);
      if (hp === undefined) throw new MeridianError('E_CONFIG', `proxy.${field}: bad address ${address}`);
      if (hp.port !== 0) {
        out.push(address);
        continue;
      }
      const port = await pickFreePort(hp.host);
      out.push(hp.host.includes(':') ? `[${hp.host}]:${port}` : `${hp.host}:${port}`);
    }
    return out;
  };
  const absolute = (p: string): string => {
    const resolved = options.resolvePath(p);
    return isAbsolute(resolved) ? resolved : fileURLToPath(new URL(resolved, `file://${process.cwd()}/`));
  };
  return {
    ...config,
    workers: 1,
    listen: await resolve(config.listen, 'listen'),
    tlsListen: await resolve(config.tlsListen, 'tlsListen'),
    ...(config.tls === undefined
      ? {}
      : { tls: { ...config.tls, cert: absolute(config.tls.cert), key: absolute(config.tls.key) } }),
  };
}

export async function startProxyCluster(options: ProxyClusterOptions): Promise<ProxyService> {
  const { store } = options;
  const logger = options.logger.child({ component: 'proxy', region: options.config.region });
  const config = await workerConfig(options);

  // A restarted worker takes its predecessor's slot, so its reports overwrite the predecessor's.
  const reporterId = (slot: Slot): string => `${options.reporterId}/w${slot.n}`;
  /** The backends of each slot's last report. */
  const slotBackends = new Map<number, readonly BackendHealth[]>();

  // Traffic policies: the init carries the list and how to reach Redis; changes are pushed.
  const policySource = options.policies;
  let policyBase: Omit<WorkerPolicies, 'list'> | undefined;
  if (policySource !== undefined) {
    policyBase = {
      keyPrefix: policySource.keyPrefix,
      ...(policySource.redis === undefined ? {} : { redis: redisConnectInfo(policySource.redis) }),
      ...(policySource.quotaPeriodMs === undefined ? {} : { quotaPeriodMs: policySource.quotaPeriodMs }),
    };
  }
  let lastPolicies: readonly Policy[] | undefined = policySource?.store.current();
  const pushPolicies = (): void => {
    if (policySource === undefined) return;
    const list = policySource.store.current();
    lastPolicies = list;
    supervisor.broadcast({ type: MSG_POLICIES, policies: list });
  };

  // Reports from the workers, written to the real store (the workers' replicas are read-only), or
  // posted to the admin API with the reporter token (`proxy.report.api`).
  const sink = options.healthSink ?? store;
  const writeReport = (slot: Slot, worker: WorkerHandle, message: ReportMessage): void => {
    const report: HealthReport = { ...message.report, regionId: config.region, reporterId: reporterId(slot) };
    if (report.backends !== undefined) slotBackends.set(slot.n, report.backends);
    sink.reportHealth(report).then(
      () => supervisor.send(worker, { type: MSG_REPORT_DONE, id: message.id }),
      (err: unknown) =>
        supervisor.send(worker, { type: MSG_REPORT_DONE, id: message.id, error: describeError(err) }),
    );
  };

  const supervisor: Supervisor<InitMessage, ProxyAddress, PrimaryMessage> = new Supervisor(
    {
      tier: 'proxy',
      protocol: PROXY_PROTOCOL,
      entry: new URL('./worker.js', import.meta.url),
      workers: options.workers,
      store,
      logger,
      naming: 'slot',
      restartRetryMs: RESTART_RETRY_MS,
      // Parallel scavenges wait for V8's helper threads; where the proxy shares its cores (with its
      // load, its backends, the other workers) a helper waits for a CPU and the pause stretches for
      // every request in flight. Three alternated A/B runs under bench-proxy's load on 2 cores: mean
      // p99 12.0 vs 14.9, 13.0 vs 15.2 and 17.0 vs 20.0 ms, 0-9 % less CPU per request. Marking is
      // single-threaded too, which a worker's small old generation (~20-30 MB) can afford.
      // `node --no-single-threaded-gc` undoes it.
      v8Flags: ['--single-threaded-gc'],
      metrics: new WorkerMetrics(options.registry, 'proxy', options.workers),
      ...(options.onWorkerTrouble === undefined ? {} : { onTrouble: options.onWorkerTrouble }),
    },
    {
      init: (slot, snapshot) => ({
        type: PROXY_PROTOCOL.init,
        config,
        reporterId: reporterId(slot),
        slot: slot.n,
        logLevel: logger.level,
        snapshot,
        ...(policySource === undefined || policyBase === undefined
          ? {}
          : { policies: { ...policyBase, list: policySource.store.current() } }),
      }),
      message: (slot, worker, message) => {
        if (isMessage<ReportMessage>(message, MSG_REPORT)) writeReport(slot, worker, message);
      },
      // Policies follow the snapshots' safety net too.
      tick: () => {
        if (policySource !== undefined && policySource.store.current() !== lastPolicies) pushPolicies();
      },
    },
  );
  const unsubscribePolicies = policySource?.store.onChange(pushPolicies) ?? ((): void => undefined);

  const stop = async (graceMs: number): Promise<void> => {
    await supervisor.stop(graceMs);
    unsubscribePolicies();
  };

  try {
    await supervisor.start();
  } catch (err) {
    await stop(0);
    throw err;
  }
  logger.info({ workers: options.workers, addresses: supervisor.addresses() }, 'proxy listening (cluster)');

  let closed: Promise<void> | undefined;
  return {
    clustered: true,
    addresses: () => supervisor.addresses().map((a) => ({ ...a })),
    backendStates: () => mergeStates(supervisor.slots.map((slot) => slotBackends.get(slot.n) ?? [])),
    // Answered by this tier's workers only.
    proxyMetrics: () => supervisor.metrics(),
    close(opts = {}) {
      closed ??= stop(opts.graceMs ?? 10_000).then(() => logger.info('proxy closed'));
      return closed;
    },
  };
}

/** One state per backend over the workers' last reports: unhealthy when any worker sees it so. */
function mergeStates(reports: readonly (readonly BackendHealth[])[]): BackendHealth[] {
  const merged = new Map<string, BackendHealth>();
  for (const backends of reports) {
    for (const state of backends) {
      const seen = merged.get(state.backendId);
      if (seen === undefined || (seen.healthy && !state.healthy)) merged.set(state.backendId, state);
    }
  }
  return [...merged.values()];
}
