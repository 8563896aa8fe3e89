// The shared TaskStore on Redis. Keys, in the same hash slot as the ops record streams:
//   <prefix>{ops}:tasks         hash  task id → task JSON
//   <prefix>{ops}:task-runs     hash  task id → TaskRunInfo JSON (only ever moved forward)
//   <prefix>{ops}:undrains      hash  `<task>:<scheduledAt>` → PendingUndrain JSON
//   <prefix>{ops}:lock:<key>    SET NX PX: one run per (task, scheduled time), one un-drain, …
import { conflict, notFound } from '../../core/errors.js';
import { whenReady, type RedisConnection } from '../../infra/redis/connection.js';
import {
  parseStoredJson,
  undrainKey,
  type PendingUndrain,
  type Task,
  type TaskRunInfo,
  type TaskStore,
} from '../task-store.js';
import { opsKey, unavailable } from './ops-record-store.js';

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
  private readonly client: RedisConnection;
  private readonly prefix: string;

  constructor(options: { readonly client: RedisConnection; readonly keyPrefix?: string }) {
    this.client = options.client;
    this.prefix = options.keyPrefix ?? 'meridian:';
  }

  private key(name: string): string {
    return opsKey(this.prefix, name);
  }

  /** Resolves once the connection is up; a wrong password fails at once, naming this store. */
  start(): Promise<void> {
    return whenReady(this.client, 'task store');
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
      .map((v) => parseStoredJson<Task>(v))
      .filter((t): t is Task => t !== undefined)
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  async get(id: string): Promise<Task | undefined> {
    const v = await this.run('cannot read task', () => this.client.hget(this.key('tasks'), id));
    return parseStoredJson<Task>(v ?? undefined);
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
      const info = parseStoredJson<TaskRunInfo>(v);
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
      .map((v) => parseStoredJson<PendingUndrain>(v))
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
