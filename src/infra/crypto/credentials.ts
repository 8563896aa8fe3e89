// Password hashes and API tokens, on node:crypto only. Passwords: scrypt with a per-user random
// salt, the parameters stored beside the hash so they can be raised later without breaking old
// hashes. Tokens: 32 random bytes (256 bits), so one unsalted SHA-256 is a safe thing to store —
// nobody can guess their way to a preimage, and lookup by hash needs no per-token salt.
import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export interface PasswordHash {
  readonly algorithm: 'scrypt';
  /** CPU/memory cost (a power of two). */
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly keyLength: number;
  /** base64 */
  readonly salt: string;
  /** base64 */
  readonly hash: string;
}

/**
 * N=2^15, r=8, p=1: 32 MiB and tens of milliseconds per hash. Below OWASP's N=2^17 on purpose, to
 * bound the memory of concurrent logins; raise it here and old hashes keep verifying with the
 * parameters stored beside them.
 */
const DEFAULT_PARAMS = { N: 2 ** 15, r: 8, p: 1, keyLength: 32 } as const;

function derive(
  password: string,
  salt: Buffer,
  params: Omit<PasswordHash, 'algorithm' | 'salt' | 'hash'>,
): Promise<Buffer> {
  const options: ScryptOptions = {
    N: params.N,
    r: params.r,
    p: params.p,
    // scrypt needs 128·N·r bytes; leave headroom above Node's 32 MiB default.
    maxmem: 256 * params.N * params.r,
  };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, params.keyLength, options, (err, key) => {
      if (err === null) resolve(key);
      else reject(err);
    });
  });
}

export async function hashPassword(password: string): Promise<PasswordHash> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, DEFAULT_PARAMS);
  return {
    algorithm: 'scrypt',
    ...DEFAULT_PARAMS,
    salt: salt.toString('base64'),
    hash: key.toString('base64'),
  };
}

export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  const expected = Buffer.from(stored.hash, 'base64');
  const key = await derive(password, Buffer.from(stored.salt, 'base64'), stored);
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A hash of a password nobody knows, verified against when the user does not exist, so a login for an unknown name takes as long as one for a known name. */
let decoy: Promise<PasswordHash> | undefined;
export function decoyPasswordHash(): Promise<PasswordHash> {
  decoy ??= hashPassword(randomBytes(24).toString('base64'));
  return decoy;
}

/** The prefix every Meridian API token starts with (so secret scanners can spot leaked ones). */
export const TOKEN_PREFIX = 'mdn_';

/** A new token: shown once to its owner; only `tokenHash(secret)` is ever stored. */
export function newTokenSecret(): string {
  return `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** A short random id for a stored record (token id, session id). */
export function newId(): string {
  return randomBytes(9).toString('base64url');
}

export function tokenHash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
