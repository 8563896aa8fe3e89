// Runs the AccessStore contract against the memory store (with its JSON file) and the Redis store
// (two live stores on one real redis-server, like two nodes), each also with a key ring (password
// hashes sealed at rest, test/api/secrets-at-rest.test.ts checks the bytes), plus the memory file's mode.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/infra/logger.js';
import { closeRedis, openRedis, redisSettings } from '../../src/infra/redis/connection.js';
import type { AccessStore } from '../../src/storage/access-store.js';
import { MemoryAccessStore } from '../../src/storage/memory/access-store.js';
import { RedisAccessStore } from '../../src/storage/redis/access-store.js';
import { KeyRing } from '../../src/infra/secrets/key-ring.js';
import { startRedis, type RedisHandle } from '../helpers/redis-server.js';
import { runAccessStoreContract } from './access-store-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'meridian-access-'));
let fileCounter = 0;
after(() => rmSync(dir, { recursive: true, force: true }));

/** Both backends run the contract without and with a key ring. */
const RINGS = [
  ['', undefined],
  [', sealed', new KeyRing(new Map([['k1', Buffer.alloc(32, 7)]]), 'k1')],
] as const;

for (const [suffix, keyRing] of RINGS)
  runAccessStoreContract(`memory${suffix}`, async () => {
    const file = join(dir, `access-${++fileCounter}.json`);
    const opened: AccessStore[] = [];
    const open = async (): Promise<AccessStore> => {
      const store = new MemoryAccessStore({ file, keyRing });
      await store.start();
      opened.push(store);
      return store;
    };
    const store = await open();
    return {
      store,
      shared: false,
      // One node: "the next store" is this node restarted, after closing.
      reopen: async () => {
        await store.close();
        return open();
      },
      cleanup: async () => {
        for (const s of opened) await s.close();
      },
    };
  });

void it('memory access store: the file is created 0600', async () => {
  const file = join(dir, 'mode', 'access.json');
  const store = new MemoryAccessStore({ file });
  await store.start();
  await store.createUser({
    name: 'alice',
    password: { algorithm: 'scrypt', N: 16384, r: 8, p: 1, keyLength: 32, salt: 'eA==', hash: 'eA==' },
    roles: ['admin'],
    regions: [],
    disabled: false,
    createdAt: '2026-01-01T00:00:00.000Z',
  });
  await store.close();
  assert.equal(statSync(file).mode & 0o777, 0o600);
});

describe('redis access store', () => {
  let redis: RedisHandle | undefined;
  let prefixCounter = 0;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  for (const [suffix, keyRing] of RINGS)
    runAccessStoreContract(`redis${suffix}`, async () => {
      if (redis === undefined) throw new Error('redis not started');
      const { state } = configSchema.parse({ state: { redis: { url: redis.url } } });
      const settings = redisSettings(state.redis);
      const keyPrefix = `a${++prefixCounter}:`;
      const conns = [0, 1].map((i) =>
        openRedis(settings, { name: `access-${i}`, profile: 'queued', logger: silentLogger }),
      );
      const stores = conns.map(
        (client, i) =>
          new RedisAccessStore({
            redis: client,
            subscriber: openRedis(settings, {
              name: `access-sub-${i}`,
              profile: 'subscriber',
              logger: silentLogger,
            }),
            keyPrefix,
            keyRing,
          }),
      );
      const [first, second] = stores;
      if (first === undefined || second === undefined) throw new Error('unreachable');
      await first.start();
      return {
        store: first,
        shared: true,
        reopen: async () => {
          await second.start();
          return second;
        },
        cleanup: async () => {
          await first.close();
          // An unstarted store never subscribed; closing it still quits its subscriber connection.
          await second.close();
          for (const c of conns) await closeRedis(c);
        },
      };
    });
});
