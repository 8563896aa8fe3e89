// Builds the traffic-policy store (and the quota counter the admin API reads usage from) for the
// configured state backend: Redis when the state is in Redis, so every proxy of every region sees the
// same policies, else a JSON file beside the embedded state file.
import type { LoadedConfig } from '../config/load.js';
import type { Logger } from '../infra/logger.js';
import { createOpsRedisClient } from '../ops/service.js';
import { MemoryPolicyStore } from '../storage/memory/policy-store.js';
import { QuotaCounter } from '../proxy/policy/quota.js';
import { RedisPolicyStore } from '../storage/redis/policy-store.js';
import type { PolicyStore } from '../storage/policy-store.js';

type RedisClient = ReturnType<typeof createOpsRedisClient>;

export interface PolicyServices {
  readonly store: PolicyStore;
  readonly quotas: QuotaCounter;
  /** The shared Redis connection for cluster-wide limits and quotas (Redis state only). */
  readonly redis: RedisClient | undefined;
  readonly keyPrefix: string;
  close(): Promise<void>;
}

export async function startPolicies(loaded: LoadedConfig, logger: Logger): Promise<PolicyServices> {
  const { state } = loaded.config;
  const log = logger.child({ component: 'policy' });
  const keyPrefix = state.redis.keyPrefix;
  let redis: RedisClient | undefined;
  let store: PolicyStore;
  if (state.backend === 'redis') {
    redis = createOpsRedisClient(state.redis, log);
    store = new RedisPolicyStore({
      redis,
      keyPrefix,
      logger: log,
      resyncMs: state.redis.resyncSeconds * 1000,
    });
  } else {
    store = new MemoryPolicyStore({ file: `${loaded.resolvePath(state.file)}.policies.json`, logger: log });
  }
  try {
    await store.start();
  } catch (err) {
    redis?.disconnect();
    throw err;
  }
  const quotas = new QuotaCounter({
    ...(redis === undefined ? {} : { redis }),
    keyPrefix,
  });
  return {
    store,
    quotas,
    redis,
    keyPrefix,
    close: async () => {
      await store.close();
      redis?.disconnect();
    },
  };
}
