// The backup file: a small JSON envelope around the backup document (backup.ts), versioned,
// checksummed and optionally encrypted.
//
//   { "format": "meridian-backup-file", "version": 1,
//     "sha256": "<hex SHA-256 of the document's JSON bytes>",
//     "encryption": null | { "kdf": "scrypt", "N", "r", "p", "salt", "cipher": "aes-256-gcm", "iv", "tag" },
//     "payload": "<base64 of the document's JSON bytes, encrypted when `encryption` is set>" }
//
// Encryption: passphrase → scrypt (N=2^15, r=8, p=1, random 16-byte salt) → 256-bit key →
// AES-256-GCM (random 12-byte IV); the envelope's format, version and KDF parameters are
// authenticated too (GCM additional data), so none of them can be altered unnoticed. Decoding
// checks, in order: the envelope, its version, decryption (a wrong passphrase and a tampered
// ciphertext both fail here), then the checksum.
import { createCipheriv, createDecipheriv, createHash, randomBytes, scrypt } from 'node:crypto';
import { MeridianError, invalid } from '../../core/errors.js';

export const FILE_FORMAT = 'meridian-backup-file';
export const FILE_VERSION = 1;

interface Encryption {
  readonly kdf: 'scrypt';
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: string;
  readonly cipher: 'aes-256-gcm';
  readonly iv: string;
  readonly tag: string;
}

interface Envelope {
  readonly format: typeof FILE_FORMAT;
  readonly version: typeof FILE_VERSION;
  readonly sha256: string;
  readonly encryption: Encryption | null;
  readonly payload: string;
}

const SCRYPT = { N: 2 ** 15, r: 8, p: 1 } as const;
const MAX_N = 2 ** 20;

function deriveKey(
  passphrase: string,
  salt: Buffer,
  params: { N: number; r: number; p: number },
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(passphrase, salt, 32, { ...params, maxmem: 256 * params.N * params.r }, (err, key) => {
      if (err === null) resolve(key);
      else reject(err);
    });
  });
}

function additionalData(e: Pick<Encryption, 'N' | 'r' | 'p' | 'salt'>): Buffer {
  return Buffer.from(`${FILE_FORMAT}/${FILE_VERSION}/scrypt/${e.N}/${e.r}/${e.p}/${e.salt}/aes-256-gcm`);
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** The file's bytes for a backup document; encrypted when a passphrase is given. */
export async function encodeBackupFile(document: unknown, passphrase?: string): Promise<Buffer> {
  const plain = Buffer.from(JSON.stringify(document), 'utf8');
  let encryption: Encryption | null = null;
  let payload = plain;
  if (passphrase !== undefined) {
    if (passphrase.length === 0) throw invalid('passphrase', 'is empty');
    const salt = randomBytes(16);
    const iv = randomBytes(12);
    const params = { ...SCRYPT, salt: salt.toString('base64') };
    const cipher = createCipheriv('aes-256-gcm', await deriveKey(passphrase, salt, SCRYPT), iv);
    cipher.setAAD(additionalData(params));
    payload = Buffer.concat([cipher.update(plain), cipher.final()]);
    encryption = {
      kdf: 'scrypt',
      ...params,
      cipher: 'aes-256-gcm',
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
    };
  }
  const envelope: Envelope = {
    format: FILE_FORMAT,
    version: FILE_VERSION,
    sha256: sha256(plain),
    encryption,
    payload: payload.toString('base64'),
  };
  return Buffer.from(`${JSON.stringify(envelope, null, 1)}\n`, 'utf8');
}

const corrupt = (what: string): MeridianError =>
  new MeridianError('E_VALIDATION', `not a readable Meridian backup file: ${what}`);

function isEncryption(x: unknown): x is Encryption {
  const e = x as Record<string, unknown> | null;
  return (
    typeof e === 'object' &&
    e !== null &&
    e.kdf === 'scrypt' &&
    e.cipher === 'aes-256-gcm' &&
    [e.N, e.r, e.p].every((n) => typeof n === 'number' && Number.isSafeInteger(n) && n > 0) &&
    (e.N as number) <= MAX_N &&
    (e.r as number) <= 32 &&
    (e.p as number) <= 16 &&
    [e.salt, e.iv, e.tag].every((s) => typeof s === 'string')
  );
}

/**
 * The backup document inside a file's bytes (parsed JSON, not yet validated as a backup). Errors
 * (E_VALIDATION) say what is wrong: not a backup file, unknown version, encrypted without a
 * passphrase, wrong passphrase or tampered, checksum mismatch.
 */
export async function decodeBackupFile(bytes: Buffer, passphrase?: string): Promise<unknown> {
  let envelope: Record<string, unknown>;
  try {
    envelope = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw corrupt('it is not JSON (truncated or not a backup?)');
  }
  if (typeof envelope !== 'object' || envelope === null || envelope.format !== FILE_FORMAT)
    throw corrupt(`expected "format": "${FILE_FORMAT}"`);
  if (envelope.version !== FILE_VERSION)
    throw new MeridianError(
      'E_VALIDATION',
      `unknown backup file version ${JSON.stringify(envelope.version)}; this Meridian reads version ${FILE_VERSION}`,
    );
  if (typeof envelope.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(envelope.sha256))
    throw corrupt('its sha256 field is missing or malformed');
  if (typeof envelope.payload !== 'string') throw corrupt('its payload is missing');
  let plain = Buffer.from(envelope.payload, 'base64');
  const encryption = envelope.encryption;
  if (encryption !== null && encryption !== undefined) {
    if (!isEncryption(encryption)) throw corrupt('its encryption parameters are malformed');
    if (passphrase === undefined)
      throw new MeridianError(
        'E_VALIDATION',
        'the backup file is encrypted: give its passphrase (--passphrase-file)',
      );
    const key = await deriveKey(passphrase, Buffer.from(encryption.salt, 'base64'), encryption);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(encryption.iv, 'base64'));
      decipher.setAAD(additionalData(encryption));
      decipher.setAuthTag(Buffer.from(encryption.tag, 'base64'));
      plain = Buffer.concat([decipher.update(plain), decipher.final()]);
    } catch {
      throw new MeridianError(
        'E_VALIDATION',
        'cannot decrypt the backup file: wrong passphrase, or the file was modified',
      );
    }
  } else if (passphrase !== undefined) {
    throw new MeridianError('E_VALIDATION', 'the backup file is not encrypted: leave out --passphrase-file');
  }
  const actual = sha256(plain);
  if (actual !== envelope.sha256)
    throw new MeridianError(
      'E_VALIDATION',
      `checksum mismatch: the backup file is corrupt or was modified (SHA-256 ${actual}, expected ${envelope.sha256})`,
    );
  try {
    return JSON.parse(plain.toString('utf8'));
  } catch {
    throw corrupt('its payload is not JSON');
  }
}
