// Runs the NodeRegistry contract against the memory registry and the Redis registry (on a real
// redis-server, two connections standing for two nodes).
import { after, before, describe } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/infra/logger.js';
import { closeRedis, openRedis, redisSettings } from '../../src/infra/redis/connection.js';
import { MemoryNodeRegistry } from '../../src/storage/memory/node-registry.js';
import { RedisNodeRegistry } from '../../src/storage/redis/node-registry.js';
import { startRedis, type RedisHandle } from '../helpers/redis-server.js';
import { runNodeRegistryContract } from './node-registry-contract.js';

runNodeRegistryContract('memory', async () => {
  const registry = new MemoryNodeRegistry();
  await registry.start();
  return { registry, other: registry, cleanup: () => registry.close() };
});

describe('redis node registry', () => {
  let redis: RedisHandle | undefined;
  let prefixCounter = 0;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  runNodeRegistryContract('redis', async () => {
    if (redis === undefined) throw new Error('redis not started');
    const { state } = configSchema.parse({ state: { redis: { url: redis.url } } });
    const settings = redisSettings(state.redis);
    const keyPrefix = `n${++prefixCounter}:`;
    const conns = [0, 1].map((i) =>
      openRedis(settings, { name: `nodes-${i}`, profile: 'queued', logger: silentLogger }),
    );
    const [registry, other] = conns.map((client) => new RedisNodeRegistry({ client, keyPrefix }));
    if (registry === undefined || other === undefined) throw new Error('unreachable');
    await registry.start();
    await other.start();
    return {
      registry,
      other,
      cleanup: async () => {
        for (const c of conns) await closeRedis(c);
      },
    };
  });
});
