// Secrets in the config file sealed with the node's key ring (encryption at rest for the file too):
// any string value may be `enc:v1:<key id>:…` — made by `meridian keys seal --path <key>` — and is
// opened before the file is validated, so the rest of Meridian only ever sees the plaintext. Each
// value is bound to its key path with array positions left out (`config:ops.webhooks[].secret`):
// moving a sealed value to another key fails to open, while reordering a list does not. The key
// ring itself comes from the `secrets:` section and MERIDIAN_KEYS (infra/secrets/), which the
// caller provides as `SealedOpener`: config/ does not depend on infra/.
import { MeridianError } from '../core/errors.js';
import { secretsSchema, type SecretsConfig } from './secrets-schema.js';

/** The `enc:v1:` prefix of a sealed value (infra/secrets/key-ring.ts writes it). */
const SEALED_PREFIX = 'enc:v1:';

/** Opens one sealed value for a context, or throws naming why (unknown key, tampered, malformed). */
export type OpenSealed = (sealed: string, context: string) => string;

/** Builds the opener from the secrets section; undefined when no key is configured. */
export type SealedOpener = (
  secrets: SecretsConfig,
  resolvePath: (p: string) => string,
) => OpenSealed | undefined;

/** The context a config value is sealed for: its key path, array positions left out. */
export function configSealContext(path: readonly (string | number)[]): string {
  let out = 'config:';
  path.forEach((p, i) => {
    if (typeof p === 'number') out += '[]';
    else out += i === 0 ? p : `.${p}`;
  });
  return out;
}

/**
 * Sealed values that stay sealed through loading: a zone's DNSSEC private keys are sealed for their
 * zone and key (`dnssec:<zone>:<role>:<tag>`), not for a config path, wherever the zone is stored
 * (the YAML seed or the zone store), and are opened only when the zone is compiled (dns/dnssec/).
 */
const KEPT_SEALED = new Set(['config:dns.zones[].dnssec.keys[].privateKey']);

function collectSealed(
  value: unknown,
  path: (string | number)[],
  found: { path: (string | number)[]; value: string }[],
): void {
  if (typeof value === 'string') {
    if (value.startsWith(SEALED_PREFIX) && !KEPT_SEALED.has(configSealContext(path)))
      found.push({ path: [...path], value });
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => collectSealed(v, [...path, i], found));
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) collectSealed(v, [...path, k], found);
  }
}

/**
 * The raw config with every sealed string opened (a copy; `raw` is not changed). Throws E_CONFIG
 * naming the key path when a value cannot be opened or no key ring is configured.
 */
export function openSealedValues(
  raw: Record<string, unknown>,
  opener: SealedOpener | undefined,
  resolvePath: (p: string) => string,
): Record<string, unknown> {
  const found: { path: (string | number)[]; value: string }[] = [];
  collectSealed(raw, [], found);
  if (found.length === 0) return raw;
  const where = (path: readonly (string | number)[]): string => path.join('.');
  const secrets = secretsSchema.safeParse(raw.secrets ?? {});
  if (!secrets.success)
    throw new MeridianError('E_CONFIG', `secrets: ${secrets.error.issues[0]?.message ?? 'invalid'}`);
  const open = opener?.(secrets.data, resolvePath);
  if (open === undefined) {
    throw new MeridianError(
      'E_CONFIG',
      `${where(found[0]!.path)}: the value is sealed (enc:v1:…) but this node has no encryption key (secrets.keyFile, MERIDIAN_KEYS)`,
    );
  }
  const copy = structuredClone(raw);
  for (const { path, value } of found) {
    let plain: string;
    try {
      plain = open(value, configSealContext(path));
    } catch (err) {
      throw new MeridianError('E_CONFIG', `${where(path)}: ${(err as Error).message}`);
    }
    let node: unknown = copy;
    for (const p of path.slice(0, -1)) node = (node as Record<string | number, unknown>)[p];
    (node as Record<string | number, unknown>)[path.at(-1)!] = plain;
  }
  return copy;
}
