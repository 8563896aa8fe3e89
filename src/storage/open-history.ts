// Opens the traffic and health history store on the backend the node's other stores use (one
// file or folder per backend, like open.ts): memory → `<state>.history.jsonl` beside the state
// file; redis → the stores' shared `meridian-ops` connection, keys under `{history}`.
import type { LoadedConfig } from '../config/load.js';
import type { Logger } from '../infra/logger.js';
import type { HistoryStore } from './history-store.js';
import { MemoryHistoryStore, historyFileFor } from './memory/history-store.js';
import { RedisHistoryStore } from './redis/history-store.js';
import type { Stores } from './stores.js';

/** Builds and starts the history store; the caller closes it before `stores`. */
export async function openHistoryStore(
  loaded: LoadedConfig,
  stores: Stores,
  logger: Logger,
): Promise<HistoryStore> {
  const { state, ops } = loaded.config;
  const retentionMs = ops.history.retentionDays * 86_400_000;
  const minuteRetentionMs = Math.min(retentionMs, ops.history.minuteRetentionHours * 3_600_000);
  const store: HistoryStore =
    stores.redis === undefined
      ? new MemoryHistoryStore({ file: historyFileFor(loaded.resolvePath(state.file)), log: logger })
      : new RedisHistoryStore({
          client: stores.redis,
          keyPrefix: stores.keyPrefix,
          retentionMs,
          minuteRetentionMs,
        });
  await store.start();
  return store;
}
