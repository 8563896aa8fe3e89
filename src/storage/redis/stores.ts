// The shared backend: every store on one Redis deployment (standalone, Sentinel or Cluster), all
// connections opened by the one factory in infra/redis/connection.ts. Connections (CLIENT LIST):
//   meridian-state       state writes and reads (fail fast while disconnected)
//   meridian-state-sub   the state change feed
//   meridian-ops         ops records, tasks, policy writes; also the proxy's rate limits and quotas
//   meridian-policy-sub  the policy change feed
//   meridian-access-sub  the users-and-tokens change feed
//   meridian-zone-sub    the zones change feed
import { closeRedis, openRedis, redisSettings } from '../../infra/redis/connection.js';
import type { BackendFactory } from '../stores.js';
import { RedisAccessStore } from './access-store.js';
import { RedisNodeRegistry } from './node-registry.js';
import { RedisAutoscaleStore } from './autoscale-store.js';
import { RedisOpsRecordStore } from './ops-record-store.js';
import { RedisPolicyStore } from './policy-store.js';
import { RedisStateStore } from './state-store.js';
import { RedisTaskStore } from './task-store.js';
import { RedisZoneStore } from './zone-store.js';

export const redisStores: BackendFactory = ({ state, nodeId, logger, keyRing }) => {
  const { keyPrefix } = state.redis;
  const settings = redisSettings(state.redis);
  const opsLog = logger.child({ component: 'ops' });
  const policyLog = logger.child({ component: 'policy' });
  const shared = openRedis(settings, { name: 'ops', profile: 'queued', logger: opsLog });
  const policyFeed = openRedis(settings, { name: 'policy-sub', profile: 'subscriber', logger: policyLog });
  const accessFeed = openRedis(settings, { name: 'access-sub', profile: 'subscriber', logger });
  const zoneFeed = openRedis(settings, { name: 'zone-sub', profile: 'subscriber', logger });
  return {
    kind: 'redis',
    state: new RedisStateStore({ redis: state.redis, logger, nodeId }),
    records: new RedisOpsRecordStore({ client: shared, keyPrefix }),
    tasks: new RedisTaskStore({ client: shared, keyPrefix }),
    policies: new RedisPolicyStore({
      redis: shared,
      subscriber: policyFeed,
      keyPrefix,
      logger: policyLog,
      resyncMs: state.redis.resyncSeconds * 1000,
    }),
    access: new RedisAccessStore({
      redis: shared,
      subscriber: accessFeed,
      keyPrefix,
      logger,
      resyncMs: state.redis.resyncSeconds * 1000,
      keyRing,
    }),
    zones: new RedisZoneStore({
      redis: shared,
      subscriber: zoneFeed,
      keyPrefix,
      logger,
      resyncMs: state.redis.resyncSeconds * 1000,
    }),
    nodes: new RedisNodeRegistry({ client: shared, keyPrefix }),
    autoscale: new RedisAutoscaleStore({ client: shared, keyPrefix }),
    redis: shared,
    // The policy store closes its feed itself, but only once started: closing twice is harmless.
    release: async () => {
      await closeRedis(shared);
      await closeRedis(policyFeed);
      await closeRedis(accessFeed);
      await closeRedis(zoneFeed);
    },
  };
};
