// How a user record is stored: its password hash sealed under the key ring (`user/<name>/password`
// as the context, so a sealed hash cannot be moved to another user). A weak password's scrypt hash
// can be cracked offline by whoever reads a Redis dump or the state file; sealed, they need the key
// too. Token hashes are not sealed: they are SHA-256 of 256 random bits (no preimage to find
// offline), and the Redis scripts read their user/kind/name fields to keep names unique.
import type { PasswordHash } from '../infra/crypto/credentials.js';
import { SealError, isSealed, sealedKeyId, type KeyRing } from '../infra/secrets/key-ring.js';
import type { User } from './access-store.js';
import type { SealedStatus } from './sealed-records.js';

/** A user as stored: the password hash sealed (a string) or, without a key ring, as it is. */
interface StoredUser extends Omit<User, 'password'> {
  readonly password: PasswordHash | string;
}

export function passwordContext(userName: string): string {
  return `user/${userName}/password`;
}

/** The stored JSON of a user: its password hash sealed when there is a key ring. */
export function encodeUser(user: User, ring: KeyRing | undefined): string {
  if (ring === undefined) return JSON.stringify(user);
  const stored: StoredUser = {
    ...user,
    password: ring.seal(JSON.stringify(user.password), passwordContext(user.name)),
  };
  return JSON.stringify(stored);
}

/** A stored user, opened; or why it cannot be (missing key, tampered, not a user record). */
export type DecodedUser =
  | { readonly ok: true; readonly user: User; readonly keyId: string | undefined }
  | { readonly ok: false; readonly keyId?: string; readonly reason: string };

export function decodeUser(json: string, ring: KeyRing | undefined): DecodedUser {
  let stored: StoredUser;
  try {
    stored = JSON.parse(json) as StoredUser;
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (
    typeof stored !== 'object' ||
    stored === null ||
    typeof stored.name !== 'string' ||
    !Array.isArray(stored.roles) ||
    (typeof stored.password !== 'object' && typeof stored.password !== 'string') ||
    stored.password === null
  ) {
    return { ok: false, reason: 'not a user record' };
  }
  if (typeof stored.password !== 'string') return { ok: true, user: stored as User, keyId: undefined };
  const sealed = stored.password;
  const keyId = isSealed(sealed) ? sealedKeyId(sealed) : undefined;
  if (ring === undefined) {
    return {
      ok: false,
      ...(keyId === undefined ? {} : { keyId }),
      reason: `password sealed with key ${keyId ?? '?'}, and this node has no key ring (secrets.keyFile, MERIDIAN_KEYS)`,
    };
  }
  try {
    const password = JSON.parse(ring.open(sealed, passwordContext(stored.name))) as PasswordHash;
    return { ok: true, user: { ...stored, password }, keyId };
  } catch (err) {
    const reason = err instanceof SealError ? err.message : 'password does not decode';
    return { ok: false, ...(keyId === undefined ? {} : { keyId }), reason };
  }
}

/** Counts stored users by key id for `sealedStatus`. */
export function userStatus(
  decoded: Iterable<readonly [string, DecodedUser]>,
): Pick<SealedStatus, 'keyIds' | 'unsealed' | 'unreadable'> {
  const keyIds: Record<string, number> = {};
  let unsealed = 0;
  const unreadable: { record: string; keyId?: string; reason: string }[] = [];
  for (const [name, d] of decoded) {
    if (!d.ok) {
      unreadable.push({
        record: `user/${name}`,
        ...(d.keyId === undefined ? {} : { keyId: d.keyId }),
        reason: d.reason,
      });
      if (d.keyId !== undefined) keyIds[d.keyId] = (keyIds[d.keyId] ?? 0) + 1;
    } else if (d.keyId === undefined) unsealed++;
    else keyIds[d.keyId] = (keyIds[d.keyId] ?? 0) + 1;
  }
  return { keyIds, unsealed, unreadable };
}
