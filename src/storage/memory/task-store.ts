// The embedded TaskStore: tasks, run info and pending un-drains in memory, persisted to one JSON
// file (`<state file base>.tasks.json`, mode 0600) written atomically (temporary file + rename)
// after every change. Run locks live only in memory: one node has no one to race with across
// restarts.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MeridianError, conflict, describeError, notFound } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../infra/logger.js';
import {
  parseStoredJson,
  undrainKey,
  type PendingUndrain,
  type Task,
  type TaskRunInfo,
  type TaskStore,
} from '../task-store.js';
import { PRIVATE_FILE_MODE, restrictToOwner } from './private-file.js';

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

  constructor(
    private readonly options: {
      readonly file?: string;
      readonly clock?: () => number;
      readonly log?: Logger;
    } = {},
  ) {}

  async start(): Promise<void> {
    const file = this.options.file;
    if (file === undefined) return;
    await restrictToOwner(file, this.options.log ?? silentLogger);
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
    const data = parseStoredJson<Partial<TaskFile>>(text);
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
      await writeFile(tmp, `${JSON.stringify(data, null, 2)}\n`, {
        encoding: 'utf8',
        mode: PRIVATE_FILE_MODE,
      });
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
