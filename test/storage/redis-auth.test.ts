// The storage wing on a password-protected Redis (requirepass, standalone): the URL's password
// reaches every store (state, ops records, tasks, policies) and a proxy worker's rate-limit
// connection, all opened by the one factory; a wrong password is a clear error naming the store.
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import type { LoadedConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/infra/logger.js';
import { closeRedis, openRedis, redisSettings } from '../../src/infra/redis/connection.js';
import { connectRedis, redisConnectInfo } from '../../src/proxy/policies.js';
import { openStores } from '../../src/storage/open.js';
import { RedisOpsRecordStore } from '../../src/storage/redis/ops-record-store.js';
import { RedisPolicyStore } from '../../src/storage/redis/policy-store.js';
import { RedisTaskStore } from '../../src/storage/redis/task-store.js';
import { startRedis, type RedisHandle } from '../helpers/redis-server.js';

const PASSWORD = 'pa:ss/w@rd';

function loaded(url: string, keyPrefix: string): LoadedConfig {
  const config = configSchema.parse({ state: { backend: 'redis', redis: { url, keyPrefix } } });
  return { config, path: undefined, resolvePath: (p) => p, nodeId: 'auth-node' };
}

describe('storage on a password-protected Redis', () => {
  let redis: RedisHandle | undefined;
  let wrongUrl = '';
  before(async () => {
    redis = await startRedis({ password: PASSWORD });
    wrongUrl = `redis://:wrong@127.0.0.1:${redis.port}`;
  });
  after(async () => {
    await redis?.stop();
  });

  it('every store and a proxy worker connection authenticate with the URL password', async () => {
    assert.ok(redis !== undefined);
    assert.match(await redis.command('CONFIG', 'GET', 'requirepass'), /pa:ss\/w@rd/, 'requirepass is on');
    const stores = await openStores(loaded(redis.url, 'auth:'), silentLogger);
    try {
      await stores.state.createRegion({ id: 'eu-west', lat: 50, lon: 8, ipv4: ['192.0.2.10'] });
      assert.ok(stores.state.current().regions.has('eu-west'));
      await stores.records.append('audit', {
        actor: 'test',
        action: 'region.create',
        target: 'region/eu-west',
      });
      assert.equal((await stores.records.query('audit')).items.length, 1);
      await stores.tasks.create({
        id: 'cleanup',
        action: 'cleanup-records',
        cron: '0 3 * * *',
        enabled: true,
        createdAt: '2026-01-01T00:00:00.000Z',
        updatedAt: '2026-01-01T00:00:00.000Z',
      });
      assert.equal((await stores.tasks.list()).length, 1);
      await stores.policies.put({ id: 'rl', type: 'rate_limit', rate: 5, burst: 5 });
      assert.equal(stores.policies.get('rl').id, 'rl');

      // What a proxy worker receives over IPC (JSON) opens a working, authenticated connection.
      assert.ok(stores.redis !== undefined);
      const info = JSON.parse(JSON.stringify(redisConnectInfo(stores.redis))) as ReturnType<
        typeof redisConnectInfo
      >;
      assert.equal(info.password, PASSWORD);
      const worker = connectRedis(info, silentLogger);
      try {
        assert.equal(await worker.ping(), 'PONG');
        assert.equal(await worker.call('HLEN', 'auth:{meridian}:regions'), 1);
      } finally {
        await closeRedis(worker);
      }
    } finally {
      await stores.close();
    }
  });

  it('a wrong password fails serve-style start with an error naming the state store', async () => {
    const started = Date.now();
    await assert.rejects(openStores(loaded(wrongUrl, 'wrong:'), silentLogger), (err: Error) => {
      assert.match(err.message, /^state store unavailable: .*WRONGPASS/);
      return true;
    });
    assert.ok(Date.now() - started < 8000);
  });

  it('a wrong password fails each other store at once, naming it', async () => {
    const { state } = configSchema.parse({ state: { redis: { url: wrongUrl } } });
    const settings = redisSettings(state.redis);
    const conn = openRedis(settings, { name: 'wrong', profile: 'queued', logger: silentLogger });
    const sub = openRedis(settings, { name: 'wrong-sub', profile: 'subscriber', logger: silentLogger });
    try {
      const cases: [string, Promise<void>][] = [
        ['ops record store', new RedisOpsRecordStore({ client: conn }).start()],
        ['task store', new RedisTaskStore({ client: conn }).start()],
        ['policy store', new RedisPolicyStore({ redis: conn, subscriber: sub }).start()],
      ];
      for (const [name, start] of cases) {
        const before = Date.now();
        await assert.rejects(start, (err: Error & { code?: string }) => {
          assert.equal(err.code, 'E_UNAVAILABLE');
          assert.match(err.message, new RegExp(`^${name}: cannot use Redis: WRONGPASS`));
          return true;
        });
        assert.ok(Date.now() - before < 3000, `${name} failed without waiting for a timeout`);
      }
    } finally {
      await closeRedis(conn);
      await closeRedis(sub);
    }
  });
});
