// Entry file of a node:cluster proxy worker: one complete proxy for the region (its own undici
// pools, ring and health tracker) on the listen sockets node:cluster shares with the other workers.
// State comes from the primary over IPC (snapshots applied to a ReplicaStateStore by
// src/cluster/worker.ts); the region health reports go back to the primary over IPC, which writes
// them to the real store. Metrics live in this worker's registry and are sent to the primary on
// request (the shared metrics message of src/cluster/worker.ts). Traffic policies arrive the same
// way (the init, then MSG_POLICIES) into a read-only ReplicaPolicyStore; for cluster-wide limits
// the worker opens its own Redis connection with the primary's settings.
import cluster from 'node:cluster';
import { Registry } from 'prom-client';
import { isMessage } from '../cluster/ipc.js';
import { runWorker, sendToPrimary } from '../cluster/worker.js';
import { describeError } from '../core/errors.js';
import type { HealthReport } from '../core/types.js';
import { createLogger } from '../infra/logger.js';
import type { RedisConnection } from '../infra/redis/lua-script.js';
import { ReplicaStateStore } from '../storage/snapshot-codec.js';
import type { ProxyAddress, ProxyService } from './index.js';
import { MSG_POLICIES, MSG_REPORT, MSG_REPORT_DONE, PROXY_PROTOCOL } from './ipc.js';
import type { InitMessage, PoliciesMessage, ReportDoneMessage, ReportMessage } from './ipc.js';
import { startLocalProxy } from './local.js';
import { connectRedis, ReplicaPolicyStore } from './policies.js';

/** A replica whose `reportHealth` is written by the primary (the replica itself is read-only). */
class WorkerStore extends ReplicaStateStore {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();

  override reportHealth(report: HealthReport): Promise<void> {
    if (process.send === undefined || !process.connected)
      return Promise.reject(new Error('no IPC channel to the primary'));
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      sendToPrimary<ReportMessage>({ type: MSG_REPORT, id, report });
    });
  }

  settle(message: ReportDoneMessage): void {
    const waiter = this.pending.get(message.id);
    if (waiter === undefined) return;
    this.pending.delete(message.id);
    if (message.error === undefined) waiter.resolve();
    else waiter.reject(new Error(message.error));
  }

  failAll(reason: string): void {
    for (const waiter of this.pending.values()) waiter.reject(new Error(reason));
    this.pending.clear();
  }
}

/** What start() opened, for the messages and close() (the logger and replica live in runWorker). */
interface WorkerState {
  readonly store: WorkerStore;
  readonly registry: Registry;
  readonly policies?: ReplicaPolicyStore;
  readonly redis?: RedisConnection;
  proxy?: ProxyService;
}

let state: WorkerState | undefined;

if (cluster.isWorker) {
  runWorker<InitMessage, WorkerStore, ProxyAddress>('proxy', PROXY_PROTOCOL, {
    logger: (msg) => createLogger(msg.logLevel).child({ worker: msg.slot }),
    replica: (options) => new WorkerStore(options),
    async start(msg, store, logger) {
      const registry = new Registry();
      const p = msg.policies;
      const policies =
        p === undefined
          ? undefined
          : new ReplicaPolicyStore(p.list, (err) =>
              logger.warn({ err: describeError(err) }, 'policy listener failed'),
            );
      const redis = p?.redis === undefined ? undefined : connectRedis(p.redis, logger);
      const current: WorkerState = {
        store,
        registry,
        ...(policies === undefined ? {} : { policies }),
        ...(redis === undefined ? {} : { redis }),
      };
      state = current;
      current.proxy = await startLocalProxy({
        config: msg.config,
        store,
        logger,
        registry,
        reporterId: msg.reporterId,
        resolvePath: (path) => path,
        ...(policies === undefined || p === undefined
          ? {}
          : {
              policies: {
                store: policies,
                redis,
                keyPrefix: p.keyPrefix,
                quotaPeriodMs: p.quotaPeriodMs,
              },
            }),
      });
      return current.proxy.addresses();
    },
    message(message) {
      if (isMessage<PoliciesMessage>(message, MSG_POLICIES)) state?.policies?.apply(message.policies);
      else if (isMessage<ReportDoneMessage>(message, MSG_REPORT_DONE)) state?.store.settle(message);
    },
    metrics: async () => (await state?.registry.getMetricsAsJSON()) ?? [],
    async close(graceMs) {
      try {
        await state?.proxy?.close({ graceMs });
      } finally {
        state?.redis?.disconnect();
        state?.store.failAll('worker exiting');
      }
    },
  });
}
