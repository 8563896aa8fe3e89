// Builds the operations components of one node from the configuration: record store, task store,
// webhooks, alert manager, task scheduler, audit log. `meridian serve` calls `startOps` after the
// state store has started and closes it before the state store.
//
// Memory backend: records in `<state file>.ops.jsonl`, tasks in `<state file>.tasks.json`.
// Redis backend: one extra connection (`meridian-ops`) to the same Redis, same key prefix.
// Region/backend writes are audited by the state store itself; with the memory store the caller
// attaches `auditSink(ops.records)` (src/ops/audit.ts) to it after `startOps` (serve.ts does).
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Registry } from 'prom-client';
import { describeError } from '../core/errors.js';
import type { DeepReadonly } from '../config/load.js';
import { retentionLimits, type OpsConfig } from '../config/ops-schema.js';
import type { StateConfig } from '../config/schema.js';
import { silentLogger, type Logger } from '../infra/logger.js';
import type { StateStore } from '../storage/state-store.js';
import { AlertManager } from './alerts.js';
import { AuditLog } from './audit.js';
import { MemoryOpsRecordStore, opsFilesFor } from '../storage/memory/ops-records.js';
import type { OpsRecordStore } from '../storage/ops-records.js';
import { RedisOpsRecordStore, type RedisClient } from '../storage/redis/ops-records.js';
import { MemoryTaskStore, RedisTaskStore, type TaskStore } from '../storage/task-store.js';
import { TaskScheduler } from './tasks.js';
import { WebhookDispatcher } from './webhooks.js';

export interface OpsServiceOptions {
  readonly ops: DeepReadonly<OpsConfig>;
  readonly state: DeepReadonly<StateConfig>;
  /** Resolves `state.file` relative to the config file (LoadedConfig.resolvePath). */
  readonly resolvePath: (p: string) => string;
  readonly store: StateStore;
  readonly nodeId: string;
  readonly logger?: Logger;
  readonly registry?: Registry;
  /** The node's health grace period end (same value as the admin API's `healthGraceUntil`). */
  readonly healthGraceUntil?: number;
  /** The DNS tier's geo database re-check, for `geo-recheck` tasks. */
  readonly geoRecheck?: () => Promise<void>;
}

export interface OpsService {
  readonly records: OpsRecordStore;
  readonly tasks: TaskStore;
  readonly audit: AuditLog;
  readonly alerts: AlertManager;
  readonly scheduler: TaskScheduler;
  readonly webhooks: WebhookDispatcher;
  close(): Promise<void>;
}

/** A connection for the ops stores, built like the state store's (URL, Sentinel or Cluster). */
export function createOpsRedisClient(cfg: DeepReadonly<StateConfig['redis']>, log: Logger): RedisClient {
  const common = {
    connectionName: 'meridian-ops',
    maxRetriesPerRequest: 1,
    commandTimeout: cfg.commandTimeoutMs,
    retryStrategy: (times: number) => Math.min(times * 200, 2000),
  } satisfies RedisOptions;
  const client: RedisClient =
    cfg.cluster.length > 0
      ? new Cluster(
          cfg.cluster.map((n) => ({ host: n.host, port: n.port })),
          { redisOptions: common },
        )
      : cfg.sentinels.length > 0
        ? new Redis({
            ...common,
            sentinels: cfg.sentinels.map((n) => ({ host: n.host, port: n.port })),
            name: cfg.sentinelName,
          })
        : new Redis(cfg.url, common);
  client.on('error', (err: unknown) => log.debug({ err: describeError(err) }, 'ops redis connection error'));
  return client;
}

export async function startOps(options: OpsServiceOptions): Promise<OpsService> {
  const log = (options.logger ?? silentLogger).child({ component: 'ops' });
  const { ops, state } = options;
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const close of closers.splice(0).reverse()) {
      await close().catch((err: unknown) => log.warn({ err: describeError(err) }, 'ops close failed'));
    }
  };

  try {
    let records: OpsRecordStore;
    let tasks: TaskStore;
    if (state.backend === 'redis') {
      const client = createOpsRedisClient(state.redis, log);
      closers.push(async () => {
        await client.quit().catch(() => client.disconnect());
      });
      records = new RedisOpsRecordStore({ client, keyPrefix: state.redis.keyPrefix });
      tasks = new RedisTaskStore({ client, keyPrefix: state.redis.keyPrefix });
    } else {
      const files = opsFilesFor(options.resolvePath(state.file));
      records = new MemoryOpsRecordStore({ file: files.records, log });
      tasks = new MemoryTaskStore({ file: files.tasks });
    }
    await records.start();
    closers.push(() => records.close());
    await tasks.start();
    closers.push(() => tasks.close());

    const webhooks = new WebhookDispatcher({
      webhooks: ops.webhooks.map((w) => ({
        url: w.url,
        minLevel: w.minLevel,
        timeoutMs: w.timeoutMs,
        retries: w.retries,
        ...(w.headers === undefined ? {} : { headers: w.headers }),
      })),
      log,
      ...(options.registry === undefined ? {} : { registry: options.registry }),
    });
    closers.push(() => webhooks.close());

    const audit = new AuditLog({
      records,
      log,
      ...(options.registry === undefined ? {} : { registry: options.registry }),
    });
    const alerts = new AlertManager({
      store: options.store,
      records,
      nodeId: options.nodeId,
      webhooks,
      flap: ops.flap,
      log,
      ...(options.registry === undefined ? {} : { registry: options.registry }),
      ...(options.healthGraceUntil === undefined ? {} : { graceUntil: options.healthGraceUntil }),
    });
    alerts.start();
    closers.push(() => alerts.close());

    const scheduler = new TaskScheduler({
      tasks,
      state: options.store,
      records,
      alerts,
      nodeId: options.nodeId,
      retention: { ...retentionLimits(ops.retention), cleanupCron: ops.retention.cleanupCron },
      log,
      ...(options.geoRecheck === undefined ? {} : { geoRecheck: options.geoRecheck }),
    });
    await scheduler.start();
    closers.push(() => scheduler.close());

    return { records, tasks, audit, alerts, scheduler, webhooks, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
