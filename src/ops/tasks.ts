// Scheduled tasks: cron expressions (croner) that drain a region for a while, clean up old
// operations records, or re-check the geo database.
//
// Exactly once across nodes. Every node computes the same scheduled times from the expression
// (croner's `nextRun`, in the task's time zone), and at each one tries `SET lock:run:<task>:<time>
// NX PX ttl`; only the winner runs it. The lock is per scheduled time and expires, so a node that
// dies mid-task never blocks a later run. `geo-recheck` is the exception: each node checks its own
// geo file, so it runs on every node that has a DNS tier.
//
// Drains end even if the node that started them dies: the un-drain is stored (`PendingUndrain`)
// before the region is drained, and every node polls for due un-drains (one wins the lock). An
// un-drain only touches a region that is still `draining`, so an operator's later change wins.
//
// Missed runs. The scheduled time of the latest run is stored. At start, runs that were due after
// it (and after the task was last changed) but more than `missedGraceMs` ago are reported as one
// `task_missed` alert per task, and not replayed.
import type { Cron } from 'croner';
import { MeridianError, describeError, notFound } from '../core/errors.js';
import { silentLogger, type Logger } from '../infra/logger.js';
import type { StateStore } from '../storage/state-store.js';
import type { AlertManager } from './alerts.js';
import { BUILTIN_RETENTION_ID, buildTask, cronFor, type TaskView } from './task-input.js';
import type { OpsRecordStore, RetentionLimits } from '../storage/ops-record-store.js';
import {
  undrainKey,
  type PendingUndrain,
  type Task,
  type TaskRunInfo,
  type TaskStore,
} from '../storage/task-store.js';

export type { PendingUndrain, Task, TaskAction, TaskRunInfo, TaskStore } from '../storage/task-store.js';

export interface TaskSchedulerOptions {
  readonly tasks: TaskStore;
  readonly state: Pick<StateStore, 'current' | 'updateRegion'>;
  readonly records: OpsRecordStore;
  readonly alerts: Pick<AlertManager, 'raise'>;
  readonly nodeId: string;
  /** Retention for `cleanup-records`; with `cleanupCron` a built-in task runs it. */
  readonly retention: RetentionLimits & { readonly cleanupCron?: string };
  /** Re-checks this node's geo database; without it `geo-recheck` tasks are skipped on this node. */
  readonly geoRecheck?: () => Promise<void>;
  readonly log?: Logger;
  readonly clock?: () => number;
  /** How often the task list and due un-drains are read; default 1000 ms. */
  readonly pollMs?: number;
  /** Lifetime of a run lock; default 10 min (longer than any clock skew between nodes). */
  readonly lockTtlMs?: number;
  /** A run due less than this long ago is not counted as missed at start; default 5000 ms. */
  readonly missedGraceMs?: number;
}

interface Job {
  readonly task: Task;
  readonly key: string;
  readonly cron: Cron;
  timer: NodeJS.Timeout | undefined;
  nextAt: number | undefined;
}

const MAX_TIMER_MS = 60_000;
const MAX_MISSED_COUNT = 10_000;

export class TaskScheduler {
  private readonly o: TaskSchedulerOptions;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly pollMs: number;
  private readonly lockTtlMs: number;
  private readonly missedGraceMs: number;
  private readonly builtins: Task[];
  private readonly jobs = new Map<string, Job>();
  private readonly running = new Set<Promise<unknown>>();
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;
  private started = false;
  private closed = false;

  constructor(options: TaskSchedulerOptions) {
    this.o = options;
    this.log = options.log ?? silentLogger;
    this.clock = options.clock ?? Date.now;
    this.pollMs = options.pollMs ?? 1000;
    this.lockTtlMs = options.lockTtlMs ?? 10 * 60_000;
    this.missedGraceMs = options.missedGraceMs ?? 5000;
    const cleanupCron = options.retention.cleanupCron;
    const epoch = new Date(0).toISOString();
    this.builtins =
      cleanupCron === undefined
        ? []
        : [
            {
              id: BUILTIN_RETENTION_ID,
              cron: cleanupCron,
              action: 'cleanup-records',
              enabled: true,
              createdAt: epoch,
              updatedAt: epoch,
            },
          ];
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    let stored: Task[] = [];
    try {
      stored = await this.o.tasks.list();
    } catch (err) {
      // Not fatal: the poll picks the tasks up once the store answers (missed runs go unreported).
      this.log.warn({ err: describeError(err) }, 'could not read the scheduled tasks at start');
    }
    const tasks = [...this.builtins, ...stored];
    await this.reportMissed(tasks).catch((err: unknown) =>
      this.log.warn({ err: describeError(err) }, 'could not check for missed task runs'),
    );
    this.sync(tasks);
    this.pollTimer = setInterval(() => void this.poll(), this.pollMs);
    this.pollTimer.unref();
  }

  /** Stops scheduling and waits for runs in progress. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer);
    for (const job of this.jobs.values()) this.cancel(job);
    this.jobs.clear();
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  // ---- management (admin API, CLI) ------------------------------------------------------------

  async list(): Promise<TaskView[]> {
    const [tasks, runs] = await Promise.all([this.o.tasks.list(), this.o.tasks.runs()]);
    const now = this.clock();
    return [...this.builtins, ...tasks].map((task) => {
      const lastRun = runs.get(task.id);
      let nextRunAt: string | undefined;
      if (task.enabled) {
        try {
          nextRunAt = cronFor(task.cron, task.timezone).nextRun(new Date(now))?.toISOString();
        } catch {
          nextRunAt = undefined;
        }
      }
      return {
        task,
        builtin: task.id.startsWith('builtin-'),
        ...(lastRun === undefined ? {} : { lastRun }),
        ...(nextRunAt === undefined ? {} : { nextRunAt }),
      };
    });
  }

  async add(body: unknown): Promise<Task> {
    const task = buildTask(body, new Date(this.clock()));
    await this.o.tasks.create(task);
    await this.refresh();
    return task;
  }

  async remove(id: string): Promise<Task> {
    this.refuseBuiltin(id);
    const task = await this.o.tasks.get(id);
    if (task === undefined || !(await this.o.tasks.remove(id))) throw notFound(`task ${id}`);
    await this.refresh();
    return task;
  }

  /** Returns the task before and after the change. */
  async setEnabled(id: string, enabled: boolean): Promise<{ before: Task; after: Task }> {
    this.refuseBuiltin(id);
    const before = await this.o.tasks.get(id);
    if (before === undefined) throw notFound(`task ${id}`);
    const after: Task = { ...before, enabled, updatedAt: new Date(this.clock()).toISOString() };
    await this.o.tasks.update(after);
    await this.refresh();
    return { before, after };
  }

  private refuseBuiltin(id: string): void {
    if (id.startsWith('builtin-')) {
      throw new MeridianError(
        'E_VALIDATION',
        `task ${id} is built in; change ops.retention in the configuration`,
        {
          field: 'id',
        },
      );
    }
  }

  /** Re-reads the task list now (other nodes do so within `pollMs`). */
  async refresh(): Promise<void> {
    if (!this.started || this.closed) return;
    this.sync([...this.builtins, ...(await this.o.tasks.list())]);
  }

  // ---- scheduling ---------------------------------------------------------------------------

  private async poll(): Promise<void> {
    if (this.polling || this.closed) return;
    this.polling = true;
    try {
      await this.refresh();
      await this.processUndrains();
    } catch (err) {
      this.log.warn({ err: describeError(err) }, 'task poll failed');
    } finally {
      this.polling = false;
    }
  }

  private sync(tasks: readonly Task[]): void {
    const wanted = new Map<string, Task>();
    for (const t of tasks) if (t.enabled) wanted.set(t.id, t);
    for (const [id, job] of this.jobs) {
      const t = wanted.get(id);
      if (t === undefined || JSON.stringify(t) !== job.key) {
        this.cancel(job);
        this.jobs.delete(id);
      }
    }
    for (const [id, task] of wanted) {
      if (this.jobs.has(id)) continue;
      let cron: Cron;
      try {
        cron = cronFor(task.cron, task.timezone);
      } catch (err) {
        this.log.warn({ task: id, err: describeError(err) }, 'task has an unusable cron expression');
        continue;
      }
      const job: Job = { task, key: JSON.stringify(task), cron, timer: undefined, nextAt: undefined };
      this.jobs.set(id, job);
      this.arm(job, this.clock());
    }
  }

  private cancel(job: Job): void {
    if (job.timer !== undefined) clearTimeout(job.timer);
    job.timer = undefined;
  }

  /** Sets a timer for the first scheduled time after `after`. */
  private arm(job: Job, after: number): void {
    if (this.closed) return;
    const next = job.cron.nextRun(new Date(after))?.getTime();
    job.nextAt = next;
    if (next === undefined) return;
    this.wait(job, next);
  }

  private wait(job: Job, at: number): void {
    const delay = Math.max(0, Math.min(MAX_TIMER_MS, at - this.clock()));
    job.timer = setTimeout(() => {
      job.timer = undefined;
      if (this.closed || this.jobs.get(job.task.id) !== job) return;
      if (this.clock() < at) {
        this.wait(job, at);
        return;
      }
      this.track(this.fire(job.task, at));
      this.arm(job, Math.max(at, this.clock() - 1000));
    }, delay);
    job.timer.unref();
  }

  private track(p: Promise<unknown>): void {
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
  }

  /** Runs one scheduled occurrence if this node wins its lock. Never rejects. */
  private async fire(task: Task, scheduledAt: number): Promise<void> {
    const perNode = task.action === 'geo-recheck';
    const log = this.log.child({ task: task.id, scheduledAt: new Date(scheduledAt).toISOString() });
    try {
      if (perNode && this.o.geoRecheck === undefined) return;
      if (
        !perNode &&
        !(await this.o.tasks.claim(`run:${task.id}:${scheduledAt}`, this.lockTtlMs, this.o.nodeId))
      ) {
        return;
      }
      await this.o.tasks.setRun(task.id, { scheduledAt, result: 'running', node: this.o.nodeId });
    } catch (err) {
      log.warn({ err: describeError(err) }, 'task run not started: its lock could not be taken');
      return;
    }
    let result: TaskRunInfo['result'] = 'ok';
    let message: string | undefined;
    try {
      message = await this.runAction(task, scheduledAt);
      if (message?.startsWith('skipped:') === true) result = 'skipped';
      log.info({ result, message }, 'task ran');
    } catch (err) {
      result = 'failed';
      message = describeError(err);
      log.warn({ err: message }, 'task failed');
      await this.o.alerts.raise({
        type: 'task_failed',
        level: 'warning',
        subject: `task/${task.id}`,
        message: `task ${task.id} (${task.action}) failed at its ${new Date(scheduledAt).toISOString()} run: ${message}`,
      });
    }
    await this.o.tasks
      .setRun(task.id, {
        scheduledAt,
        result,
        node: this.o.nodeId,
        finishedAt: this.clock(),
        ...(message === undefined ? {} : { message }),
      })
      .catch((err: unknown) => log.warn({ err: describeError(err) }, 'task result not recorded'));
  }

  private async runAction(task: Task, scheduledAt: number): Promise<string | undefined> {
    switch (task.action) {
      case 'cleanup-records': {
        const removed = await this.o.records.cleanup(this.o.retention, this.clock());
        return `removed ${removed.audit} audit and ${removed.alert} alert records`;
      }
      case 'geo-recheck':
        await this.o.geoRecheck?.();
        return undefined;
      case 'drain-region':
        return this.drain(task, scheduledAt);
    }
  }

  private async drain(task: Task & { action: 'drain-region' }, scheduledAt: number): Promise<string> {
    const region = this.o.state.current().regions.get(task.region);
    if (region === undefined) throw notFound(`region ${task.region}`);
    if (region.state !== 'active') return `skipped: region ${task.region} is ${region.state}, not active`;
    const pending: PendingUndrain = {
      taskId: task.id,
      region: task.region,
      until: scheduledAt + task.durationMinutes * 60_000,
      previousState: region.state,
      scheduledAt,
    };
    await this.o.tasks.addUndrain(pending);
    try {
      // The store audits the drain atomically with the change (actor task:<id>).
      await this.o.state.updateRegion(task.region, { state: 'draining' }, { actor: `task:${task.id}` });
    } catch (err) {
      await this.o.tasks.removeUndrain(undrainKey(pending)).catch(() => undefined);
      throw err;
    }
    return `drained region ${task.region} until ${new Date(pending.until).toISOString()}`;
  }

  private async processUndrains(): Promise<void> {
    const now = this.clock();
    for (const u of await this.o.tasks.undrains()) {
      if (u.until > now || this.closed) continue;
      const key = undrainKey(u);
      if (!(await this.o.tasks.claim(`undrain:${key}`, this.lockTtlMs, this.o.nodeId))) continue;
      this.track(this.undrain(u, key));
    }
  }

  private async undrain(u: PendingUndrain, key: string): Promise<void> {
    const region = this.o.state.current().regions.get(u.region);
    try {
      if (region?.state === 'draining') {
        await this.o.state.updateRegion(u.region, { state: u.previousState }, { actor: `task:${u.taskId}` });
        this.log.info({ task: u.taskId, region: u.region }, 'drain ended');
      } else {
        this.log.info(
          { task: u.taskId, region: u.region },
          'drain ended: region no longer draining, left as it is',
        );
      }
      await this.o.tasks.removeUndrain(key);
    } catch (err) {
      // The lock expires after lockTtlMs; a later poll (on any node) tries again.
      this.log.warn({ task: u.taskId, region: u.region, err: describeError(err) }, 'un-drain failed');
    }
  }

  // ---- missed runs -------------------------------------------------------------------------

  private async reportMissed(tasks: readonly Task[]): Promise<void> {
    const runs = await this.o.tasks.runs();
    const now = this.clock();
    const horizon = now - this.missedGraceMs;
    for (const task of tasks) {
      if (!task.enabled) continue;
      const last = runs.get(task.id)?.scheduledAt;
      // A built-in task has no creation time that means anything: only count after a known run.
      if (last === undefined && task.id.startsWith('builtin-')) continue;
      const from = Math.max(last ?? 0, Date.parse(task.updatedAt));
      let cron: Cron;
      try {
        cron = cronFor(task.cron, task.timezone);
      } catch {
        continue;
      }
      let count = 0;
      let first: number | undefined;
      let latest: number | undefined;
      for (let d = cron.nextRun(new Date(from)); d !== null && d.getTime() <= horizon; d = cron.nextRun(d)) {
        first ??= d.getTime();
        latest = d.getTime();
        if (++count >= MAX_MISSED_COUNT) break;
      }
      if (count === 0 || first === undefined || latest === undefined) continue;
      if (!(await this.o.tasks.claim(`missed:${task.id}:${latest}`, this.lockTtlMs, this.o.nodeId))) continue;
      const many = count >= MAX_MISSED_COUNT ? `at least ${count}` : String(count);
      const message = `task ${task.id} (${task.action}) missed ${many} run(s) between ${new Date(first).toISOString()} and ${new Date(latest).toISOString()} while no node ran it; not replayed`;
      await this.o.tasks.setRun(task.id, {
        scheduledAt: latest,
        result: 'missed',
        node: this.o.nodeId,
        message,
      });
      await this.o.alerts.raise({
        type: 'task_missed',
        level: 'warning',
        subject: `task/${task.id}`,
        message,
      });
    }
  }
}
