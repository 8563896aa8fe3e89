// The TaskStore contract: where scheduled tasks, their last runs, run locks and pending un-drains
// live. One implementation per backend (memory/task-store.ts: one node, a small JSON file written
// atomically; redis/task-store.ts: shared by every node); both pass one contract suite
// (test/storage/task-store-contract.ts).
import type { LifecycleState } from '../core/types.js';

export type TaskAction = 'drain-region' | 'cleanup-records' | 'geo-recheck';
export const TASK_ACTIONS: readonly TaskAction[] = ['drain-region', 'cleanup-records', 'geo-recheck'];

interface TaskBase {
  readonly id: string;
  /** 5 fields (minute precision) or 6 (seconds first). */
  readonly cron: string;
  readonly enabled: boolean;
  /** IANA zone the cron expression is read in; default UTC. */
  readonly timezone?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export type Task =
  | (TaskBase & {
      readonly action: 'drain-region';
      readonly region: string;
      readonly durationMinutes: number;
    })
  | (TaskBase & { readonly action: 'cleanup-records' })
  | (TaskBase & { readonly action: 'geo-recheck' });

export interface TaskRunInfo {
  /** The scheduled time (ms epoch) of the latest run claimed, or of the latest missed run reported. */
  readonly scheduledAt: number;
  readonly result: 'running' | 'ok' | 'failed' | 'skipped' | 'missed';
  readonly node?: string;
  readonly message?: string;
  readonly finishedAt?: number;
}

export interface PendingUndrain {
  readonly taskId: string;
  readonly region: string;
  /** When to put the region back (ms epoch). */
  readonly until: number;
  readonly previousState: LifecycleState;
  readonly scheduledAt: number;
}

export function undrainKey(u: Pick<PendingUndrain, 'taskId' | 'scheduledAt'>): string {
  return `${u.taskId}:${u.scheduledAt}`;
}

export interface TaskStore {
  readonly kind: 'memory' | 'redis';
  start(): Promise<void>;
  close(): Promise<void>;
  list(): Promise<Task[]>;
  get(id: string): Promise<Task | undefined>;
  /** E_CONFLICT when the id exists. */
  create(task: Task): Promise<void>;
  /** E_NOT_FOUND when it does not. */
  update(task: Task): Promise<void>;
  /** Also forgets its run info. Returns false when there was no such task. */
  remove(id: string): Promise<boolean>;
  runs(): Promise<Map<string, TaskRunInfo>>;
  /** Stores run info unless a later scheduled time is already stored. */
  setRun(id: string, info: TaskRunInfo): Promise<void>;
  /** `SET key owner NX PX ttl`: true for exactly one caller until the lock expires. */
  claim(key: string, ttlMs: number, owner: string): Promise<boolean>;
  undrains(): Promise<PendingUndrain[]>;
  addUndrain(u: PendingUndrain): Promise<void>;
  removeUndrain(key: string): Promise<void>;
}

/** Parses a stored JSON value; undefined for a missing or unreadable one (skipped, not fatal). */
export function parseStoredJson<T>(text: string | undefined): T | undefined {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}
