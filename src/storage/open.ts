// The one place that chooses the storage backend named by `state.backend`, builds its four stores
// (state, ops records, tasks, policies, users and tokens), starts them in that order and closes them in reverse.
// Adding a backend: a folder with a `stores.ts` (see stores.ts) and one line in BACKENDS.
import type { LoadedConfig } from '../config/load.js';
import type { StateConfig } from '../config/schema.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../infra/logger.js';
import { loadKeyRing } from '../infra/secrets/key-source.js';
import { memoryStores } from './memory/stores.js';
import { redisStores } from './redis/stores.js';
import { sealedZoneKeys } from './sealed-zones.js';
import type { BackendFactory, Stores } from './stores.js';

const BACKENDS: Readonly<Record<StateConfig['backend'], BackendFactory>> = {
  memory: memoryStores,
  redis: redisStores,
};

/**
 * Builds and starts the configured backend's stores; on failure closes what was opened and rethrows.
 * `env` supplies MERIDIAN_KEYS / MERIDIAN_ACTIVE_KEY (the key ring, infra/secrets/key-source.ts).
 */
export async function openStores(
  loaded: LoadedConfig,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Stores> {
  const { state } = loaded.config;
  const keyRing = loadKeyRing(loaded.config.secrets, loaded.resolvePath, env);
  if (keyRing === undefined)
    logger.warn('no encryption key (secrets.keyFile, MERIDIAN_KEYS): secrets are stored unsealed');
  const { release, ...backend } = BACKENDS[state.backend]({
    state,
    resolvePath: loaded.resolvePath,
    nodeId: loaded.nodeId,
    logger,
    keyRing,
  });
  const opened: { readonly name: string; close(): Promise<void> }[] = [];
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const store of opened.reverse()) {
        await store.close().catch((err: unknown) => {
          logger.warn({ store: store.name, err: describeError(err) }, 'store close failed');
        });
      }
      await release();
    })();
    return closing;
  };
  try {
    // In order: the state store first (the others are useless without it). A store is closed even
    // if its start failed, so its connections and timers are released.
    for (const [name, store] of [
      ['state', backend.state],
      ['ops records', backend.records],
      ['tasks', backend.tasks],
      ['policies', backend.policies],
      ['users and tokens', backend.access],
      ['zones', backend.zones],
      ['node registry', backend.nodes],
      ['autoscale', backend.autoscale],
    ] as const) {
      opened.push({ name, close: () => store.close() });
      await store.start();
    }
  } catch (err) {
    await close();
    throw err;
  }
  return {
    ...backend,
    keyPrefix: state.redis.keyPrefix,
    keyRing,
    sealed: [backend.access, sealedZoneKeys(backend.zones, keyRing)],
    close,
  };
}
