// Builds the operations components of one node on top of its stores: webhooks, alert manager,
// task scheduler, audit log. The record and task stores come from the storage wing
// (storage/open.ts), which also closes them; `meridian serve` calls `startOps` after the stores
// have started and closes it before them. Region/backend writes are audited by the state store
// itself; with the memory store the caller attaches `auditSink(ops.records)` (src/ops/audit.ts) to
// it after `startOps` (serve.ts does).
import type { Registry } from 'prom-client';
import { describeError } from '../core/errors.js';
import type { RegionHealthPolicy } from '../core/health.js';
import type { DeepReadonly } from '../config/load.js';
import { retentionLimits, type OpsConfig } from '../config/ops-schema.js';
import { silentLogger, type Logger } from '../infra/logger.js';
import type { OpsRecordStore } from '../storage/ops-record-store.js';
import type { StateStore } from '../storage/state-store.js';
import type { TaskStore } from '../storage/task-store.js';
import { AlertManager } from './alerts.js';
import { AuditLog } from './audit.js';
import { TaskScheduler } from './tasks.js';
import { WebhookDispatcher } from './webhooks.js';

export interface OpsServiceOptions {
  readonly ops: DeepReadonly<OpsConfig>;
  readonly store: StateStore;
  /** Started record and task stores; their owner closes them after this service. */
  readonly records: OpsRecordStore;
  readonly tasks: TaskStore;
  readonly nodeId: string;
  readonly logger?: Logger;
  readonly registry?: Registry;
  /** The node's health grace period end (same value as the admin API's `healthGraceUntil`). */
  readonly healthGraceUntil?: number;
  /** The region health rule per region (same as the admin API's `healthPolicy`). */
  readonly healthPolicy?: (regionId: string) => RegionHealthPolicy | undefined;
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

export async function startOps(options: OpsServiceOptions): Promise<OpsService> {
  const log = (options.logger ?? silentLogger).child({ component: 'ops' });
  const { ops, records, tasks } = options;
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const close of closers.splice(0).reverse()) {
      await close().catch((err: unknown) => log.warn({ err: describeError(err) }, 'ops close failed'));
    }
  };

  try {
    const webhooks = new WebhookDispatcher({
      webhooks: ops.webhooks.map((w) => ({
        id: w.id,
        url: w.url,
        minLevel: w.minLevel,
        timeoutMs: w.timeoutMs,
        retries: w.retries,
        ...(w.headers === undefined ? {} : { headers: w.headers }),
        ...(w.secret === undefined ? {} : { secret: w.secret }),
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
      ...(options.healthPolicy === undefined ? {} : { healthPolicy: options.healthPolicy }),
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
