// Where the key ring comes from: `secrets.keyFile` (owner-only, checked) and the MERIDIAN_KEYS
// environment variable, never the state. Both hold `<key id>:<base64 of 32 bytes>` entries; the
// active key is `secrets.activeKey` (MERIDIAN_ACTIVE_KEY wins), or the only key when there is one.
// No key at all: undefined, and stored secrets stay unsealed (logged at start by the caller).
import { readFileSync, statSync } from 'node:fs';
import type { DeepReadonly } from '../../config/load.js';
import type { SecretsConfig } from '../../config/secrets-schema.js';
import type { SealedOpener } from '../../config/sealed-values.js';
import { MeridianError, describeError } from '../../core/errors.js';
import { KeyRing } from './key-ring.js';

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Parses `<id>:<base64>` entries separated by newlines or commas; `#` starts a comment line. */
export function parseKeyEntries(text: string, source: string): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  for (const [i, raw] of text.split(/[\n,]/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    const kid = line.slice(0, colon).trim();
    const b64 = line.slice(colon + 1).trim();
    if (colon <= 0 || !BASE64.test(b64)) {
      throw new MeridianError(
        'E_CONFIG',
        `${source}, entry ${i + 1}: expected <key id>:<base64 of 32 bytes>`,
      );
    }
    if (keys.has(kid)) throw new MeridianError('E_CONFIG', `${source}: key ${kid} is listed twice`);
    const key = Buffer.from(b64, 'base64');
    if (key.length !== 32)
      throw new MeridianError('E_CONFIG', `${source}: key ${kid} is ${key.length} bytes, expected 32`);
    keys.set(kid, key);
  }
  return keys;
}

/** Reads the key file, refusing one that group or others may read (it holds every key). */
function readKeyFile(path: string): string {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    throw new MeridianError('E_CONFIG', `secrets.keyFile ${path}: ${describeError(err)}`);
  }
  if ((mode & 0o077) !== 0) {
    throw new MeridianError(
      'E_CONFIG',
      `secrets.keyFile ${path} is mode ${(mode & 0o777).toString(8).padStart(4, '0')}; it holds encryption keys, so it must be 0600 or stricter (chmod 600 ${path})`,
    );
  }
  return readFileSync(path, 'utf8');
}

/** The node's key ring, or undefined when no key is configured. Throws E_CONFIG naming the problem. */
export function loadKeyRing(
  config: DeepReadonly<SecretsConfig>,
  resolvePath: (p: string) => string,
  env: NodeJS.ProcessEnv = process.env,
): KeyRing | undefined {
  const keys = new Map<string, Buffer>();
  const add = (entries: Map<string, Buffer>, source: string): void => {
    for (const [kid, key] of entries) {
      const known = keys.get(kid);
      if (known !== undefined && !known.equals(key))
        throw new MeridianError(
          'E_CONFIG',
          `${source}: key ${kid} differs from the key file's key of that id`,
        );
      keys.set(kid, key);
    }
  };
  if (config.keyFile !== undefined) {
    const path = resolvePath(config.keyFile);
    add(parseKeyEntries(readKeyFile(path), `secrets.keyFile ${path}`), `secrets.keyFile ${path}`);
  }
  if (env.MERIDIAN_KEYS !== undefined && env.MERIDIAN_KEYS.trim() !== '') {
    add(parseKeyEntries(env.MERIDIAN_KEYS, 'MERIDIAN_KEYS'), 'MERIDIAN_KEYS');
  }
  const active = env.MERIDIAN_ACTIVE_KEY?.trim() || config.activeKey;
  if (keys.size === 0) {
    if (active !== undefined)
      throw new MeridianError(
        'E_CONFIG',
        `the active key ${active} is set but no key is configured (secrets.keyFile, MERIDIAN_KEYS)`,
      );
    return undefined;
  }
  if (active === undefined) {
    if (keys.size > 1) {
      throw new MeridianError(
        'E_CONFIG',
        `the key ring has ${keys.size} keys (${[...keys.keys()].join(', ')}): name the active one in secrets.activeKey or MERIDIAN_ACTIVE_KEY`,
      );
    }
    return new KeyRing(keys, [...keys.keys()][0] as string);
  }
  return new KeyRing(keys, active);
}

/**
 * The config loader's opener for sealed config values (config/sealed-values.ts): the key ring of
 * the file's `secrets:` section and `env`, or undefined when no key is configured.
 */
export function keyRingOpener(env: NodeJS.ProcessEnv = process.env): SealedOpener {
  return (secrets, resolvePath) => {
    const ring = loadKeyRing(secrets, resolvePath, env);
    return ring === undefined ? undefined : (sealed, context) => ring.open(sealed, context);
  };
}
