// DNSSEC key material through node:crypto: key generation (ECDSA P-256 = algorithm 13, Ed25519 =
// algorithm 15), the DNSKEY RDATA and its key tag (RFC 4034 Appendix B), DS records (RFC 4509,
// SHA-256), and signing/verifying a block of signed data in DNSSEC's signature format (RFC 6605:
// r‖s, 64 bytes; RFC 8080: the 64-byte Ed25519 signature). No I/O; shared by the DNS tier (signing),
// the admin API and the CLI (enable, ds, rollover).
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { MeridianError } from '../../core/errors.js';
import type { DnssecAlgorithm } from '../../config/dnssec-schema.js';

export const DNSKEY_FLAGS_ZSK = 256;
/** Zone key + Secure Entry Point. */
export const DNSKEY_FLAGS_KSK = 257;
const DNSKEY_PROTOCOL = 3;
/** DS digest type 2 = SHA-256 (RFC 4509), the one every validator supports. */
export const DS_DIGEST_SHA256 = 2;

export interface GeneratedKey {
  readonly algorithm: DnssecAlgorithm;
  /** The DNSKEY public key field. */
  readonly publicKey: Buffer;
  /** PKCS#8 DER; seal it before it is stored. */
  readonly privateKeyPkcs8: Buffer;
}

/** A fresh key pair for `algorithm`. */
export function generateKey(algorithm: DnssecAlgorithm): GeneratedKey {
  const pair =
    algorithm === 13
      ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      : generateKeyPairSync('ed25519');
  return {
    algorithm,
    publicKey: publicKeyField(pair.publicKey, algorithm),
    privateKeyPkcs8: pair.privateKey.export({ format: 'der', type: 'pkcs8' }),
  };
}

/** The DNSKEY public key field of a node:crypto public key. */
export function publicKeyField(key: KeyObject, algorithm: DnssecAlgorithm): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (algorithm === 13) {
    if (jwk.crv !== 'P-256' || jwk.x === undefined || jwk.y === undefined)
      throw new MeridianError('E_DNSSEC_KEY', 'algorithm 13 needs a P-256 key');
    return Buffer.concat([Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
  }
  if (jwk.crv !== 'Ed25519' || jwk.x === undefined)
    throw new MeridianError('E_DNSSEC_KEY', 'algorithm 15 needs an Ed25519 key');
  return Buffer.from(jwk.x, 'base64url');
}

/** A private key from its PKCS#8 DER, checked against the algorithm and the DNSKEY public key. */
export function privateKeyFromPkcs8(
  pkcs8: Buffer,
  algorithm: DnssecAlgorithm,
  expectedPublicKey?: Buffer,
): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw new MeridianError('E_DNSSEC_KEY', `the private key does not parse: ${(err as Error).message}`);
  }
  const publicKey = publicKeyField(createPublicKey(key), algorithm);
  if (expectedPublicKey !== undefined && !publicKey.equals(expectedPublicKey))
    throw new MeridianError('E_DNSSEC_KEY', 'the private key does not match the DNSKEY public key');
  return key;
}

/** DNSKEY RDATA: flags, protocol 3, algorithm, public key (RFC 4034 §2.1). */
export function dnskeyRdata(flags: number, algorithm: DnssecAlgorithm, publicKey: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(flags, 0);
  head[2] = DNSKEY_PROTOCOL;
  head[3] = algorithm;
  return Buffer.concat([head, publicKey]);
}

/** RFC 4034 Appendix B key tag of a DNSKEY RDATA (algorithm 1 excepted, which we never use). */
export function keyTag(rdata: Buffer): number {
  let ac = 0;
  for (let i = 0; i < rdata.length; i++) ac += (i & 1) === 0 ? rdata[i]! << 8 : rdata[i]!;
  ac += (ac >>> 16) & 0xffff;
  return ac & 0xffff;
}

/** A domain name in canonical wire form (RFC 4034 §6.2: lower case, uncompressed). */
export function canonicalNameWire(name: string): Buffer {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  if (n === '') return Buffer.from([0]);
  const labels = n.toLowerCase().split('.');
  const parts: Buffer[] = [];
  for (const label of labels) {
    const bytes = Buffer.from(label, 'latin1');
    if (bytes.length === 0 || bytes.length > 63)
      throw new MeridianError('E_DNSSEC_KEY', `bad label in ${name}`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

export interface DsRecord {
  readonly keyTag: number;
  readonly algorithm: DnssecAlgorithm;
  readonly digestType: number;
  readonly digest: Buffer;
}

/** The DS record for a zone's KSK (RFC 4034 §5.1.4: digest over owner name ‖ DNSKEY RDATA). */
export function dsRecord(zone: string, dnskey: Buffer): DsRecord {
  const digest = createHash('sha256').update(canonicalNameWire(zone)).update(dnskey).digest();
  return {
    keyTag: keyTag(dnskey),
    algorithm: dnskey[3] as DnssecAlgorithm,
    digestType: DS_DIGEST_SHA256,
    digest,
  };
}

/** A DS record in presentation form, as the parent zone's operator enters it. */
export function dsText(zone: string, ds: DsRecord, ttl?: number): string {
  const owner = zone.endsWith('.') ? zone : `${zone}.`;
  const ttlText = ttl === undefined ? '' : `${ttl} `;
  return `${owner} ${ttlText}IN DS ${ds.keyTag} ${ds.algorithm} ${ds.digestType} ${ds.digest.toString('hex').toUpperCase()}`;
}

/** A DNSKEY in presentation form (for trust anchors and `dnssec status`). */
export function dnskeyText(zone: string, dnskey: Buffer, ttl?: number): string {
  const owner = zone.endsWith('.') ? zone : `${zone}.`;
  const ttlText = ttl === undefined ? '' : `${ttl} `;
  return `${owner} ${ttlText}IN DNSKEY ${dnskey.readUInt16BE(0)} ${dnskey[2]} ${dnskey[3]} ${dnskey.subarray(4).toString('base64')}`;
}

/** Signs `data` as DNSSEC wants it: ECDSA P-256/SHA-256 as r‖s (RFC 6605 §4), Ed25519 raw (RFC 8080). */
export function signData(key: KeyObject, algorithm: DnssecAlgorithm, data: Buffer): Buffer {
  return algorithm === 13 ? sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }) : sign(null, data, key);
}

/** Checks a DNSSEC signature over `data` with the DNSKEY public key field. */
export function verifyData(
  publicKey: Buffer,
  algorithm: DnssecAlgorithm,
  data: Buffer,
  signature: Buffer,
): boolean {
  const key = publicKeyObject(publicKey, algorithm);
  return algorithm === 13
    ? verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature)
    : verify(null, data, key, signature);
}

/** A node:crypto public key from a DNSKEY public key field. */
export function publicKeyObject(publicKey: Buffer, algorithm: DnssecAlgorithm): KeyObject {
  if (algorithm === 13) {
    if (publicKey.length !== 64) throw new MeridianError('E_DNSSEC_KEY', 'a P-256 public key is 64 bytes');
    return createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: publicKey.subarray(0, 32).toString('base64url'),
        y: publicKey.subarray(32).toString('base64url'),
      },
      format: 'jwk',
    });
  }
  if (publicKey.length !== 32) throw new MeridianError('E_DNSSEC_KEY', 'an Ed25519 public key is 32 bytes');
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: publicKey.toString('base64url') },
    format: 'jwk',
  });
}

/** The key ring context a zone key's private half is sealed under (binds it to its zone and key). */
export function privateKeyContext(zone: string, role: string, tag: number): string {
  return `dnssec:${zone.toLowerCase().replace(/\.$/, '')}:${role}:${tag}`;
}
