// The opener of signed zones' sealed private keys in a process that compiles zones: the node key
// ring from `secrets:` (key file path already resolved) and the environment (MERIDIAN_KEYS,
// MERIDIAN_ACTIVE_KEY), loaded once. No key configured: undefined, and signed zones refuse to compile.
import type { DeepReadonly } from '../../config/load.js';
import type { SecretsConfig } from '../../config/secrets-schema.js';
import { loadKeyRing } from '../../infra/secrets/key-source.js';
import type { OpenSealed } from './zone-keys.js';

export function dnssecKeyOpener(
  secrets: DeepReadonly<SecretsConfig> | undefined,
  env: NodeJS.ProcessEnv = process.env,
): OpenSealed | undefined {
  const ring = loadKeyRing(secrets ?? {}, (p) => p, env);
  return ring === undefined ? undefined : (sealed, context) => ring.open(sealed, context);
}
