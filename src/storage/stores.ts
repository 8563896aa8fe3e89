// What a storage backend is: one folder (storage/memory/, storage/redis/) whose `stores.ts` builds
// the four stores of this file from the configuration. `open.ts` chooses the backend (one line per
// backend) and starts and closes the stores in order. Every backend passes the four contract suites
// in test/storage/ (state, ops records, tasks, policies).
import type { DeepReadonly } from '../config/load.js';
import type { StateConfig } from '../config/schema.js';
import type { Logger } from '../infra/logger.js';
import type { RedisConnection } from '../infra/redis/connection.js';
import type { KeyRing } from '../infra/secrets/key-ring.js';
import type { AccessStore } from './access-store.js';
import type { NodeRegistry } from './node-registry.js';
import type { AutoscaleStore } from './autoscale-store.js';
import type { OpsRecordStore } from './ops-record-store.js';
import type { PolicyStore } from './policy-store.js';
import type { SealedRecordSet } from './sealed-records.js';
import type { StateStore } from './state-store.js';
import type { TaskStore } from './task-store.js';
import type { ZoneStore } from './zone-store.js';

export interface BackendContext {
  readonly state: DeepReadonly<StateConfig>;
  /** Resolves a path of the configuration (relative to the config file). */
  readonly resolvePath: (path: string) => string;
  readonly nodeId: string;
  readonly logger: Logger;
  /** Seals the stores' secret fields at rest (infra/secrets/); undefined: stored as they are. */
  readonly keyRing?: KeyRing | undefined;
}

/** A backend's four stores, built but not started. */
export interface BackendStores {
  readonly kind: StateConfig['backend'];
  readonly state: StateStore;
  readonly records: OpsRecordStore;
  readonly tasks: TaskStore;
  readonly policies: PolicyStore;
  /** Users and API tokens (the admin API's authentication). */
  readonly access: AccessStore;
  /** DNS zones, records and balanced names (the DNS tier serves from it). */
  readonly zones: ZoneStore;
  /** Which nodes run and whether they are alive (node-registry.ts). */
  readonly nodes: NodeRegistry;
  /** The autoscaler's decider lease and last decisions (src/ops/autoscale/). */
  readonly autoscale: AutoscaleStore;
  /**
   * The backend's shared Redis command connection (Redis only), which the proxy tier also uses for
   * cluster-wide rate limits and quotas.
   */
  readonly redis: RedisConnection | undefined;
  /** Releases what the stores share (connections); called after every store is closed. */
  readonly release: () => Promise<void>;
}

/** A backend's stores, started; `close()` closes them in reverse order. */
export interface Stores extends Omit<BackendStores, 'release'> {
  /** Every Redis key starts with it (`state.redis.keyPrefix`), also the proxy tier's rate-limit keys. */
  readonly keyPrefix: string;
  /** The node's key ring (`secrets.keyFile`, MERIDIAN_KEYS), when it has one. */
  readonly keyRing: KeyRing | undefined;
  /** Every store holding sealed fields, for `meridian keys status|rotate`. */
  readonly sealed: readonly SealedRecordSet[];
  /** Closes every store, then the shared connections. Safe to call twice. */
  close(): Promise<void>;
}

export type BackendFactory = (context: BackendContext) => BackendStores;
