// Chooses the StateStore named by the configuration.
import type { LoadedConfig } from '../config/load.js';
import type { Logger } from '../log/logger.js';
import type { StateStore } from './store.js';
import { MemoryStateStore } from './memory.js';
import { RedisStateStore } from './redis.js';

export type { AuditOutboxEntry, AuditSink, ChangeListener, StateStore, StoreStatus } from './store.js';
export {
  MemoryStateStore,
  loadStateFile,
  readStateFile,
  writeFileAtomic,
  type StateFileContents,
  type StateFileJson,
} from './memory.js';
export { auditEntry, backendTarget, checkContext, patchVerb, regionTarget } from './audit.js';
export { RedisStateStore, redisKeys } from './redis.js';
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
} from './records.js';

export function createStateStore(loaded: LoadedConfig, logger: Logger): StateStore {
  const state = loaded.config.state;
  if (state.backend === 'redis')
    return new RedisStateStore({ redis: state.redis, logger, nodeId: loaded.nodeId });
  return new MemoryStateStore({ file: loaded.resolvePath(state.file), logger });
}
