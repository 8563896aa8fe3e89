// Cluster mode: the primary forks workers that each run a complete proxy for the region on the
// listen sockets node:cluster shares between them (round-robin over accepted connections). Every
// state snapshot is pushed to the workers over IPC; their region health reports come back over IPC
// and are written to the store here, under `${reporterId}/w${slot}` (a restarted worker takes its
// predecessor's slot, so it overwrites that report instead of leaving a stale one behind). Port 0 is
// resolved here first, so a worker restarted after all others died still gets the same port.
// Traffic policies follow the same path as snapshots: the primary pushes its policy store's list to
// every worker (at init, then on every change), and each worker enforces it with its own engine
// (policies.ts); so local rate limits and bandwidth limits count per worker.
import cluster, { type Worker } from 'node:cluster';
import { createServer } from 'node:net';
import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AggregatorRegistry } from 'prom-client';
import type { DeepReadonly } from '../config/load.js';
import { parseHostPort } from '../config/primitives.js';
import type { ProxyConfig } from '../config/proxy-schema.js';
import { MeridianError, describeError, type ErrorCode } from '../core/errors.js';
import type { Policy } from '../config/policy-schema.js';
import type { BackendHealth, HealthReport, Snapshot } from '../core/types.js';
import { encodeSnapshot } from '../state/snapshot-codec.js';
import type { ProxyAddress, ProxyOptions, ProxyService } from './index.js';
import {
  MSG_FAILED,
  MSG_HELLO,
  MSG_INIT,
  MSG_METRICS,
  MSG_METRICS_DONE,
  MSG_POLICIES,
  MSG_READY,
  MSG_REPORT,
  MSG_REPORT_DONE,
  MSG_SHUTDOWN,
  MSG_SNAPSHOT,
  isMessage,
} from './ipc.js';
import type {
  FailedMessage,
  HelloMessage,
  InitMessage,
  MetricsDoneMessage,
  PrimaryMessage,
  ReadyMessage,
  ReportMessage,
  WorkerPolicies,
} from './ipc.js';
import { redisConnectInfo } from './policies.js';

export interface ProxyClusterOptions extends ProxyOptions {
  readonly workers: number;
}

const START_TIMEOUT_MS = 30_000;
const METRICS_TIMEOUT_MS = 5_000;
const RESPAWN_DELAY_MS = 1_000;
/** Added to the grace period before a worker that has not exited is killed. */
const STOP_SLACK_MS = 5_000;

/** How to run the worker entry: the .ts source through tsx, or the compiled .js. */
function workerExec(): { exec: string; execArgv: string[] } {
  const fromSource = import.meta.url.endsWith('.ts');
  return {
    exec: fileURLToPath(new URL(fromSource ? './worker.ts' : './worker.js', import.meta.url)),
    execArgv: fromSource ? ['--import', 'tsx'] : [],
  };
}

function sendTo(worker: Worker, message: PrimaryMessage): void {
  try {
    if (worker.isConnected()) worker.send(message);
  } catch {
    // The worker is going away; its exit handler deals with it.
  }
}

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
      : { tls: { cert: absolute(config.tls.cert), key: absolute(config.tls.key) } }),
  };
}

interface Slot {
  readonly n: number;
  readonly reporterId: string;
  worker?: Worker;
  /** The backends of this slot's last report. */
  backends?: readonly BackendHealth[];
}

export async function startProxyCluster(options: ProxyClusterOptions): Promise<ProxyService> {
  const { store, reporterId } = options;
  const logger = options.logger.child({ component: 'proxy', region: options.config.region });
  const config = await workerConfig(options);
  const { exec, execArgv } = workerExec();
  // Installs prom-client's IPC listener in the primary, should anything here call clusterMetrics().
  new AggregatorRegistry();

  const slots: Slot[] = Array.from({ length: options.workers }, (_, i) => ({
    n: i + 1,
    reporterId: `${reporterId}/w${i + 1}`,
  }));
  /** Workers that were sent the init (they get every snapshot from then on). */
  const initialised = new Set<Worker>();
  let addresses: ProxyAddress[] = [];
  let closing = false;
  let lastPushed: Snapshot | undefined;

  const push = (): void => {
    const snapshot = store.current();
    lastPushed = snapshot;
    if (initialised.size === 0) return;
    const message = { type: MSG_SNAPSHOT, snapshot: encodeSnapshot(snapshot) } as const;
    for (const w of initialised) sendTo(w, message);
  };
  let pushQueued = false;
  const schedulePush = (): void => {
    if (pushQueued) return;
    pushQueued = true;
    setImmediate(() => {
      pushQueued = false;
      if (!closing) push();
    });
  };
  const unsubscribe = store.onChange(schedulePush);

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
    if (policySource === undefined || closing) return;
    const list = policySource.store.current();
    lastPolicies = list;
    const message = { type: MSG_POLICIES, policies: list } as const;
    for (const w of initialised) sendTo(w, message);
  };
  const unsubscribePolicies = policySource?.store.onChange(pushPolicies) ?? ((): void => undefined);

  // Safety net: a snapshot replaced without a change event (e.g. a resync) still reaches the workers.
  const periodic = setInterval(() => {
    if (!closing && store.current() !== lastPushed) push();
    if (policySource !== undefined && policySource.store.current() !== lastPolicies) pushPolicies();
  }, 1000);
  periodic.unref();

  // Reports from the workers, written to the real store (the workers' replicas are read-only).
  const writeReport = (slot: Slot, worker: Worker, message: ReportMessage): void => {
    const report: HealthReport = {
      ...message.report,
      regionId: config.region,
      reporterId: slot.reporterId,
    };
    if (report.backends !== undefined) slot.backends = report.backends;
    store.reportHealth(report).then(
      () => sendTo(worker, { type: MSG_REPORT_DONE, id: message.id }),
      (err: unknown) => sendTo(worker, { type: MSG_REPORT_DONE, id: message.id, error: describeError(err) }),
    );
  };

  // Metrics requests: answered by this tier's workers only.
  let metricsId = 0;
  const metricsWaiters = new Map<number, (message: MetricsDoneMessage) => void>();
  const proxyMetrics = async (): Promise<string> => {
    const workers = slots
      .map((s) => s.worker)
      .filter((w): w is Worker => w !== undefined && initialised.has(w) && w.isConnected());
    const replies = await Promise.all(
      workers.map(
        (w) =>
          new Promise<unknown[]>((resolve) => {
            const id = ++metricsId;
            const timer = setTimeout(() => {
              metricsWaiters.delete(id);
              logger.warn({ worker: w.id }, 'proxy worker did not answer a metrics request');
              resolve([]);
            }, METRICS_TIMEOUT_MS);
            timer.unref();
            metricsWaiters.set(id, (message) => {
              clearTimeout(timer);
              metricsWaiters.delete(id);
              resolve(message.metrics ?? []);
            });
            sendTo(w, { type: MSG_METRICS, id });
          }),
      ),
    );
    // prom-client's JSON form is what AggregatorRegistry.aggregate takes (typed loosely there).
    const perWorker = replies.filter((r) => r.length > 0) as Parameters<
      typeof AggregatorRegistry.aggregate
    >[0];
    if (perWorker.length === 0) return '';
    return AggregatorRegistry.aggregate(perWorker).metrics();
  };

  const fork = (slot: Slot): Promise<Worker> => {
    cluster.setupPrimary({ exec, execArgv, args: [] });
    const worker = cluster.fork();
    slot.worker = worker;
    worker.on('error', (err) => logger.warn({ err: err.message, worker: slot.n }, 'proxy worker IPC error'));
    return new Promise<Worker>((resolve, reject) => {
      let started = false;
      const timer = setTimeout(() => {
        reject(
          new MeridianError(
            'E_UNAVAILABLE',
            `proxy worker ${slot.n} did not start within ${START_TIMEOUT_MS} ms`,
          ),
        );
        worker.kill('SIGKILL');
      }, START_TIMEOUT_MS);
      worker.on('message', (message: unknown) => {
        if (isMessage<ReportMessage>(message, MSG_REPORT)) {
          writeReport(slot, worker, message);
        } else if (isMessage<MetricsDoneMessage>(message, MSG_METRICS_DONE)) {
          metricsWaiters.get(message.id)?.(message);
        } else if (isMessage<HelloMessage>(message, MSG_HELLO)) {
          const snapshot = store.current();
          lastPushed = snapshot;
          initialised.add(worker);
          const init: InitMessage = {
            type: MSG_INIT,
            config,
            reporterId: slot.reporterId,
            slot: slot.n,
            logLevel: logger.level,
            snapshot: encodeSnapshot(snapshot),
            ...(policySource === undefined || policyBase === undefined
              ? {}
              : { policies: { ...policyBase, list: policySource.store.current() } }),
          };
          sendTo(worker, init);
        } else if (isMessage<ReadyMessage>(message, MSG_READY)) {
          clearTimeout(timer);
          started = true;
          addresses = message.addresses;
          resolve(worker);
        } else if (isMessage<FailedMessage>(message, MSG_FAILED)) {
          clearTimeout(timer);
          reject(new MeridianError(message.code as ErrorCode, `proxy worker ${slot.n}: ${message.message}`));
        }
      });
      worker.once('exit', (code, signal) => {
        clearTimeout(timer);
        initialised.delete(worker);
        if (slot.worker === worker) delete slot.worker;
        if (!started) {
          reject(
            new MeridianError(
              'E_UNAVAILABLE',
              `proxy worker ${slot.n} exited (${signal ?? code}) while starting`,
            ),
          );
          return;
        }
        if (closing) return;
        logger.error({ worker: slot.n, code, signal }, 'proxy worker died: starting a new one');
        const respawn = (): void => {
          if (closing) return;
          fork(slot).catch((err: unknown) => {
            logger.error({ worker: slot.n, err: describeError(err) }, 'proxy worker restart failed');
            setTimeout(respawn, RESPAWN_DELAY_MS * 5).unref();
          });
        };
        setTimeout(respawn, RESPAWN_DELAY_MS).unref();
      });
    });
  };

  const stopAll = async (graceMs: number): Promise<void> => {
    closing = true;
    await Promise.all(
      slots.map(
        (slot) =>
          new Promise<void>((resolve) => {
            const w = slot.worker;
            if (w === undefined || w.isDead()) return resolve();
            const timer = setTimeout(() => {
              logger.warn({ worker: slot.n }, 'proxy worker did not stop in time: killing it');
              w.kill('SIGKILL');
            }, graceMs + STOP_SLACK_MS);
            w.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            sendTo(w, { type: MSG_SHUTDOWN, graceMs });
            if (!w.isConnected()) w.kill();
          }),
      ),
    );
    // Reports written after the workers' final ones would undo them: stop following the store last.
    unsubscribe();
    unsubscribePolicies();
    clearInterval(periodic);
    for (const waiter of metricsWaiters.values()) waiter({ type: MSG_METRICS_DONE, id: -1, metrics: [] });
  };

  try {
    await Promise.all(slots.map((slot) => fork(slot)));
  } catch (err) {
    await stopAll(0);
    throw err;
  }
  logger.info({ workers: slots.length, addresses }, 'proxy listening (cluster)');

  let closed: Promise<void> | undefined;
  return {
    clustered: true,
    addresses: () => addresses.map((a) => ({ ...a })),
    backendStates: () => mergeStates(slots),
    proxyMetrics,
    close(opts = {}) {
      closed ??= stopAll(opts.graceMs ?? 10_000).then(() => logger.info('proxy closed'));
      return closed;
    },
  };
}

/** One state per backend over the workers' last reports: unhealthy when any worker sees it so. */
function mergeStates(slots: readonly Slot[]): BackendHealth[] {
  const merged = new Map<string, BackendHealth>();
  for (const slot of slots) {
    for (const state of slot.backends ?? []) {
      const seen = merged.get(state.backendId);
      if (seen === undefined || (seen.healthy && !state.healthy)) merged.set(state.backendId, state);
    }
  }
  return [...merged.values()];
}
