// The traffic-policy services the admin API and the proxy tier share: the policy store (from the
// storage wing: Redis when the state is in Redis, so every proxy of every region sees the same
// policies, else a JSON file beside the embedded state file) and the quota counter the admin API
// reads usage from, on the backend's shared Redis connection when there is one.
import type { RedisConnection } from '../infra/redis/connection.js';
import { QuotaCounter } from '../proxy/policy/quota.js';
import type { PolicyStore } from '../storage/policy-store.js';
import type { Stores } from '../storage/stores.js';

export interface PolicyServices {
  readonly store: PolicyStore;
  readonly quotas: QuotaCounter;
  /** The shared Redis connection for cluster-wide limits and quotas (Redis state only). */
  readonly redis: RedisConnection | undefined;
  readonly keyPrefix: string;
}

/** Nothing to close: the stores and the connection belong to the storage wing. */
export function policyServices(stores: Stores): PolicyServices {
  const { keyPrefix, redis } = stores;
  return {
    store: stores.policies,
    quotas: new QuotaCounter({ ...(redis === undefined ? {} : { redis }), keyPrefix }),
    redis,
    keyPrefix,
  };
}
