// The key ring for encryption at rest: AES-256-GCM under one of several named 32-byte keys. A sealed
// value names the key that sealed it, so a ring holding the old and the new key reads both while
// `meridian keys rotate` re-seals everything under the active one, after which the old key can be
// retired. Pure (node:crypto only): where keys come from is key-source.ts.
//
//   enc:v1:<key id>:<iv>:<ciphertext>:<tag>      (iv 12 bytes, tag 16 bytes, all base64url)
//
// The caller's `context` (e.g. `user/alice/password`) is the GCM additional data: a sealed value
// copied into another field or record fails to open instead of being accepted there.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { MeridianError } from '../../core/errors.js';

export const SEALED_PREFIX = 'enc:v1:';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** A key id: what operators name keys by (`2026-12`, `k2`); no `:` so a sealed value splits cleanly. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const B64URL = /^[A-Za-z0-9_-]*$/;

/** Why a sealed value did not open. */
export type SealFailure = 'unknown-key' | 'tampered' | 'malformed';

/**
 * A sealed value that cannot be opened. `unknown-key` (this node lacks `keyId`) is E_UNAVAILABLE:
 * the value is fine, the node is not; the others mean the stored bytes are not what was sealed.
 */
export class SealError extends MeridianError {
  constructor(
    readonly failure: SealFailure,
    readonly keyId: string | undefined,
    message: string,
  ) {
    super(failure === 'unknown-key' ? 'E_UNAVAILABLE' : 'E_INTERNAL', message);
    this.name = 'SealError';
  }
}

/** Whether a stored value is sealed (it may still fail to open). */
export function isSealed(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(SEALED_PREFIX);
}

/** The key id a sealed value names, without opening it; undefined when it is not a sealed value. */
export function sealedKeyId(value: string): string | undefined {
  if (!isSealed(value)) return undefined;
  const kid = value.slice(SEALED_PREFIX.length).split(':', 1)[0] ?? '';
  return KEY_ID_PATTERN.test(kid) ? kid : undefined;
}

export class KeyRing {
  readonly #keys: ReadonlyMap<string, Buffer>;
  /** The key new values are sealed with. */
  readonly activeKeyId: string;

  /** Throws E_CONFIG naming the bad key id or length, or an active key that is not in the ring. */
  constructor(keys: ReadonlyMap<string, Uint8Array>, activeKeyId: string) {
    const copy = new Map<string, Buffer>();
    for (const [kid, key] of keys) {
      if (!KEY_ID_PATTERN.test(kid))
        throw new MeridianError('E_CONFIG', `key id ${JSON.stringify(kid)}: expected 1-64 of [A-Za-z0-9._-]`);
      if (key.length !== KEY_BYTES)
        throw new MeridianError('E_CONFIG', `key ${kid}: expected ${KEY_BYTES} bytes, got ${key.length}`);
      copy.set(kid, Buffer.from(key));
    }
    if (!copy.has(activeKeyId)) {
      throw new MeridianError(
        'E_CONFIG',
        `the active key ${JSON.stringify(activeKeyId)} is not in the key ring (it has ${[...copy.keys()].join(', ') || 'no key'})`,
      );
    }
    this.#keys = copy;
    this.activeKeyId = activeKeyId;
  }

  /** The ids of every key this ring can open, sorted. */
  keyIds(): string[] {
    return [...this.#keys.keys()].sort();
  }

  has(keyId: string): boolean {
    return this.#keys.has(keyId);
  }

  /** Seals `plaintext` under the active key, bound to `context`. */
  seal(plaintext: string, context: string): string {
    const key = this.#keys.get(this.activeKeyId) as Buffer;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return `${SEALED_PREFIX}${this.activeKeyId}:${iv.toString('base64url')}:${body.toString('base64url')}:${tag.toString('base64url')}`;
  }

  /**
   * Opens a value `seal` made for the same `context`. Throws SealError: `unknown-key` naming the key
   * id this ring lacks, `tampered` (wrong context, altered bytes, a different key under that id) or
   * `malformed`. Never returns anything but the original plaintext.
   */
  open(sealed: string, context: string): string {
    if (!isSealed(sealed)) throw new SealError('malformed', undefined, `${context}: not a sealed value`);
    const parts = sealed.slice(SEALED_PREFIX.length).split(':');
    const [kid, ivText, bodyText, tagText] = parts;
    if (
      parts.length !== 4 ||
      kid === undefined ||
      !KEY_ID_PATTERN.test(kid) ||
      ![ivText, bodyText, tagText].every((p) => p !== undefined && B64URL.test(p))
    ) {
      throw new SealError('malformed', undefined, `${context}: malformed sealed value`);
    }
    const key = this.#keys.get(kid);
    if (key === undefined) {
      throw new SealError(
        'unknown-key',
        kid,
        `${context} is sealed with key ${kid}, which this node does not have (add it to secrets.keyFile or MERIDIAN_KEYS)`,
      );
    }
    const iv = Buffer.from(ivText ?? '', 'base64url');
    const tag = Buffer.from(tagText ?? '', 'base64url');
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES)
      throw new SealError('malformed', kid, `${context}: malformed sealed value`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([
        decipher.update(Buffer.from(bodyText ?? '', 'base64url')),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new SealError(
        'tampered',
        kid,
        `${context}: sealed value does not authenticate under key ${kid} (altered, moved from another field, or a different key with that id)`,
      );
    }
  }
}

/** A new random key (32 bytes) as base64, for a key file line `<id>:<base64>`. */
export function newKeyText(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}
