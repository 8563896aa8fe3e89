// Runs the TaskStore contract against the memory store (with its JSON file) and the Redis store
// (on a real redis-server), plus the memory store's file mode.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../src/infra/logger.js';
import { closeRedis, openRedis, redisSettings } from '../../src/infra/redis/connection.js';
import { configSchema } from '../../src/config/schema.js';
import { MemoryTaskStore } from '../../src/storage/memory/task-store.js';
import { RedisTaskStore } from '../../src/storage/redis/task-store.js';
import type { TaskStore } from '../../src/storage/task-store.js';
import { startRedis, type RedisHandle } from '../helpers/redis-server.js';
import { runTaskStoreContract } from './task-store-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'meridian-tasks-'));
let fileCounter = 0;
after(() => rmSync(dir, { recursive: true, force: true }));

runTaskStoreContract('memory', async () => {
  const file = join(dir, `tasks-${++fileCounter}.json`);
  const opened: TaskStore[] = [];
  const open = async (): Promise<TaskStore> => {
    const store = new MemoryTaskStore({ file });
    await store.start();
    opened.push(store);
    return store;
  };
  const store = await open();
  return {
    store,
    // The memory store is one node: "the next store" is this node restarted, after closing.
    reopen: async () => {
      await store.close();
      return open();
    },
    cleanup: async () => {
      for (const s of opened) await s.close();
    },
  };
});

void it('memory task store: the tasks file is created 0600', async () => {
  const file = join(dir, 'mode', 'tasks.json');
  const store = new MemoryTaskStore({ file });
  await store.start();
  await store.addUndrain({ taskId: 't', region: 'r', until: 2, previousState: 'active', scheduledAt: 1 });
  await store.close();
  assert.equal(statSync(file).mode & 0o777, 0o600);
});

describe('redis task store', () => {
  let redis: RedisHandle | undefined;
  let prefixCounter = 0;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  runTaskStoreContract('redis', async () => {
    if (redis === undefined) throw new Error('redis not started');
    const { state } = configSchema.parse({ state: { redis: { url: redis.url } } });
    const settings = redisSettings(state.redis);
    const keyPrefix = `t${++prefixCounter}:`;
    const conns = [0, 1].map((i) =>
      openRedis(settings, { name: `tasks-${i}`, profile: 'queued', logger: silentLogger }),
    );
    const stores = conns.map((client) => new RedisTaskStore({ client, keyPrefix }));
    const [first, second] = stores;
    if (first === undefined || second === undefined) throw new Error('unreachable');
    await first.start();
    return {
      store: first,
      reopen: async () => {
        await second.start();
        return second;
      },
      cleanup: async () => {
        for (const s of stores) await s.close();
        for (const c of conns) await closeRedis(c);
      },
    };
  });
});
