// Chooses the StateStore named by the configuration.
import type { LoadedConfig } from '../config/load.js';
import type { Logger } from '../infra/logger.js';
import type { StateStore } from './state-store.js';
import { MemoryStateStore } from './memory/state-store.js';
import { RedisStateStore } from './redis/state-store.js';

export type { AuditOutboxEntry, AuditSink, ChangeListener, StateStore, StoreStatus } from './state-store.js';
export {
  MemoryStateStore,
  loadStateFile,
  readStateFile,
  writeFileAtomic,
  type StateFileContents,
  type StateFileJson,
} from './memory/state-store.js';
export { auditEntry, backendTarget, checkContext, patchVerb, regionTarget } from './audit.js';
export { RedisStateStore, redisKeys } from './redis/state-store.js';
export {
  ReplicaStateStore,
  SnapshotBuilder,
  decodeSnapshot,
  encodeSnapshot,
  type SnapshotJson,
} from './snapshot-codec.js';
export {
  buildBackend,
  buildRegion,
  patchBackend,
  patchRegion,
  reviveBackend,
  reviveRegion,
  validateHealthReport,
} from './state-records.js';

export function createStateStore(loaded: LoadedConfig, logger: Logger): StateStore {
  const state = loaded.config.state;
  if (state.backend === 'redis')
    return new RedisStateStore({ redis: state.redis, logger, nodeId: loaded.nodeId });
  return new MemoryStateStore({ file: loaded.resolvePath(state.file), logger });
}
