// Where scheduled tasks, their last runs, run locks and pending un-drains live. Two
// implementations: memory (one node; persisted to a small JSON file written atomically) and Redis
// (shared by every node). Redis keys, in the same hash slot as the record streams:
//   <prefix>{ops}:tasks         hash  task id → task JSON
//   <prefix>{ops}:task-runs     hash  task id → TaskRunInfo JSON (only ever moved forward)
//   <prefix>{ops}:undrains      hash  `<task>:<scheduledAt>` → PendingUndrain JSON
//   <prefix>{ops}:lock:<key>    SET NX PX: one run per (task, scheduled time), one un-drain, …
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MeridianError, conflict, describeError, notFound } from '../core/errors.js';
import type { LifecycleState } from '../core/types.js';
import type { RedisClient } from './redis/ops-records.js';
import { opsKey, unavailable } from './redis/ops-records.js';

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

function parseJson<T>(text: string | undefined): T | undefined {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------

interface TaskFile {
  tasks: Task[];
  runs: Record<string, TaskRunInfo>;
  undrains: PendingUndrain[];
}

export class MemoryTaskStore implements TaskStore {
  readonly kind = 'memory' as const;
  private readonly tasks = new Map<string, Task>();
  private readonly runInfo = new Map<string, TaskRunInfo>();
  private readonly pending = new Map<string, PendingUndrain>();
  private readonly locks = new Map<string, number>();
  private io: Promise<void> = Promise.resolve();

  constructor(private readonly options: { readonly file?: string; readonly clock?: () => number } = {}) {}

  async start(): Promise<void> {
    const file = this.options.file;
    if (file === undefined) return;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        await mkdir(dirname(file), { recursive: true });
        return;
      }
      throw new MeridianError('E_UNAVAILABLE', `cannot read tasks ${file}: ${describeError(err)}`, {
        cause: err,
      });
    }
    const data = parseJson<Partial<TaskFile>>(text);
    if (data === undefined) throw new MeridianError('E_CONFIG', `tasks file ${file} is not valid JSON`);
    for (const t of data.tasks ?? []) this.tasks.set(t.id, t);
    for (const [id, r] of Object.entries(data.runs ?? {})) this.runInfo.set(id, r);
    for (const u of data.undrains ?? []) this.pending.set(undrainKey(u), u);
  }

  async close(): Promise<void> {
    await this.io;
  }

  list(): Promise<Task[]> {
    return Promise.resolve([...this.tasks.values()].sort((a, b) => a.id.localeCompare(b.id)));
  }

  get(id: string): Promise<Task | undefined> {
    return Promise.resolve(this.tasks.get(id));
  }

  async create(task: Task): Promise<void> {
    if (this.tasks.has(task.id)) throw conflict(`task ${task.id}`);
    this.tasks.set(task.id, task);
    await this.persist();
  }

  async update(task: Task): Promise<void> {
    if (!this.tasks.has(task.id)) throw notFound(`task ${task.id}`);
    this.tasks.set(task.id, task);
    await this.persist();
  }

  async remove(id: string): Promise<boolean> {
    const existed = this.tasks.delete(id);
    this.runInfo.delete(id);
    if (existed) await this.persist();
    return existed;
  }

  runs(): Promise<Map<string, TaskRunInfo>> {
    return Promise.resolve(new Map(this.runInfo));
  }

  async setRun(id: string, info: TaskRunInfo): Promise<void> {
    const cur = this.runInfo.get(id);
    if (cur !== undefined && cur.scheduledAt > info.scheduledAt) return;
    this.runInfo.set(id, info);
    await this.persist();
  }

  claim(key: string, ttlMs: number, _owner: string): Promise<boolean> {
    const now = (this.options.clock ?? Date.now)();
    const until = this.locks.get(key);
    if (until !== undefined && until > now) return Promise.resolve(false);
    this.locks.set(key, now + ttlMs);
    if (this.locks.size > 10_000) for (const [k, t] of this.locks) if (t <= now) this.locks.delete(k);
    return Promise.resolve(true);
  }

  undrains(): Promise<PendingUndrain[]> {
    return Promise.resolve([...this.pending.values()]);
  }

  async addUndrain(u: PendingUndrain): Promise<void> {
    this.pending.set(undrainKey(u), u);
    await this.persist();
  }

  async removeUndrain(key: string): Promise<void> {
    if (this.pending.delete(key)) await this.persist();
  }

  private persist(): Promise<void> {
    const file = this.options.file;
    if (file === undefined) return Promise.resolve();
    const write = async (): Promise<void> => {
      const data: TaskFile = {
        tasks: [...this.tasks.values()],
        runs: Object.fromEntries(this.runInfo),
        undrains: [...this.pending.values()],
      };
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, `${JSON.stringify(data, null, 2)}\n`, 'utf8');
      await rename(tmp, file);
    };
    const run = this.io.then(write, write);
    this.io = run.catch(() => undefined);
    return run.catch((err: unknown) => {
      throw new MeridianError('E_UNAVAILABLE', `cannot write tasks ${file}: ${describeError(err)}`, {
        cause: err,
      });
    });
  }
}

// ---------------------------------------------------------------------------------------------

const SET_RUN_SCRIPT = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local ok, c = pcall(cjson.decode, cur)
  if ok and type(c) == 'table' and tonumber(c.scheduledAt) and tonumber(c.scheduledAt) > tonumber(ARGV[3]) then
    return 0
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

const CREATE_SCRIPT = `return redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])`;
const UPDATE_SCRIPT = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

export class RedisTaskStore implements TaskStore {
  readonly kind = 'redis' as const;
  private readonly client: RedisClient;
  private readonly prefix: string;

  constructor(options: { readonly client: RedisClient; readonly keyPrefix?: string }) {
    this.client = options.client;
    this.prefix = options.keyPrefix ?? 'meridian:';
  }

  private key(name: string): string {
    return opsKey(this.prefix, name);
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private async run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw unavailable(what, err);
    }
  }

  async list(): Promise<Task[]> {
    const all = await this.run('cannot read tasks', () => this.client.hgetall(this.key('tasks')));
    return Object.values(all)
      .map((v) => parseJson<Task>(v))
      .filter((t): t is Task => t !== undefined)
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  async get(id: string): Promise<Task | undefined> {
    const v = await this.run('cannot read task', () => this.client.hget(this.key('tasks'), id));
    return parseJson<Task>(v ?? undefined);
  }

  async create(task: Task): Promise<void> {
    const done = await this.run('cannot create task', () =>
      this.client.eval(CREATE_SCRIPT, 1, this.key('tasks'), task.id, JSON.stringify(task)),
    );
    if (Number(done) !== 1) throw conflict(`task ${task.id}`);
  }

  async update(task: Task): Promise<void> {
    const done = await this.run('cannot update task', () =>
      this.client.eval(UPDATE_SCRIPT, 1, this.key('tasks'), task.id, JSON.stringify(task)),
    );
    if (Number(done) !== 1) throw notFound(`task ${task.id}`);
  }

  async remove(id: string): Promise<boolean> {
    const removed = await this.run('cannot remove task', async () => {
      const n = await this.client.hdel(this.key('tasks'), id);
      await this.client.hdel(this.key('task-runs'), id);
      return n;
    });
    return removed > 0;
  }

  async runs(): Promise<Map<string, TaskRunInfo>> {
    const all = await this.run('cannot read task runs', () => this.client.hgetall(this.key('task-runs')));
    const out = new Map<string, TaskRunInfo>();
    for (const [id, v] of Object.entries(all)) {
      const info = parseJson<TaskRunInfo>(v);
      if (info !== undefined) out.set(id, info);
    }
    return out;
  }

  async setRun(id: string, info: TaskRunInfo): Promise<void> {
    await this.run('cannot record task run', () =>
      this.client.eval(
        SET_RUN_SCRIPT,
        1,
        this.key('task-runs'),
        id,
        JSON.stringify(info),
        String(info.scheduledAt),
      ),
    );
  }

  async claim(key: string, ttlMs: number, owner: string): Promise<boolean> {
    const reply = await this.run('cannot take task lock', () =>
      this.client.set(this.key(`lock:${key}`), owner, 'PX', Math.max(1, Math.floor(ttlMs)), 'NX'),
    );
    return reply === 'OK';
  }

  async undrains(): Promise<PendingUndrain[]> {
    const all = await this.run('cannot read pending un-drains', () =>
      this.client.hgetall(this.key('undrains')),
    );
    return Object.values(all)
      .map((v) => parseJson<PendingUndrain>(v))
      .filter((u): u is PendingUndrain => u !== undefined);
  }

  async addUndrain(u: PendingUndrain): Promise<void> {
    await this.run('cannot record pending un-drain', () =>
      this.client.hset(this.key('undrains'), undrainKey(u), JSON.stringify(u)),
    );
  }

  async removeUndrain(key: string): Promise<void> {
    await this.run('cannot remove pending un-drain', () => this.client.hdel(this.key('undrains'), key));
  }
}
