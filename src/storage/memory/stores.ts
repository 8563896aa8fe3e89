// The embedded backend: every store in memory, persisted to files beside the state file, all
// mode 0600 (`.meridian-state.json`, `.meridian-state.ops.jsonl`, `.meridian-state.tasks.json`,
// `.meridian-state.json.policies.json`). One node only: nothing here is shared.
import type { BackendFactory } from '../stores.js';
import { MemoryAccessStore } from './access-store.js';
import { MemoryNodeRegistry } from './node-registry.js';
import { MemoryAutoscaleStore } from './autoscale-store.js';
import { MemoryOpsRecordStore, opsFilesFor } from './ops-record-store.js';
import { MemoryPolicyStore } from './policy-store.js';
import { MemoryStateStore } from './state-store.js';
import { MemoryTaskStore } from './task-store.js';
import { MemoryZoneStore } from './zone-store.js';

export const memoryStores: BackendFactory = ({ state, resolvePath, logger, keyRing }) => {
  const stateFile = resolvePath(state.file);
  const files = opsFilesFor(stateFile);
  const opsLog = logger.child({ component: 'ops' });
  return {
    kind: 'memory',
    state: new MemoryStateStore({ file: stateFile, logger }),
    records: new MemoryOpsRecordStore({ file: files.records, log: opsLog }),
    tasks: new MemoryTaskStore({ file: files.tasks, log: opsLog }),
    policies: new MemoryPolicyStore({
      file: `${stateFile}.policies.json`,
      logger: logger.child({ component: 'policy' }),
    }),
    access: new MemoryAccessStore({ file: `${stateFile}.access.json`, log: opsLog, keyRing }),
    zones: new MemoryZoneStore({ file: `${stateFile}.zones.json`, logger }),
    nodes: new MemoryNodeRegistry(),
    autoscale: new MemoryAutoscaleStore(),
    redis: undefined,
    release: () => Promise.resolve(),
  };
};
