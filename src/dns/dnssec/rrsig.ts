// RRSIG records (RFC 4034 §3): the RDATA fields, the signed data (§3.1.8.1: RRSIG RDATA without the
// signature, then the RRset in canonical form) and the signature through node:crypto. Pure.
import type { KeyObject } from 'node:crypto';
import type { DnssecAlgorithm } from '../../config/dnssec-schema.js';
import { signData } from '../../infra/dnssec/keys.js';
import { TYPE } from '../wire/constants.js';
import type { Rr } from '../wire/encoder.js';
import { canonicalNameWire, canonicalRrset, labelCount } from './canonical.js';

/** What an RRSIG says besides its signature. */
export interface RrsigFields {
  readonly typeCovered: number;
  readonly algorithm: DnssecAlgorithm;
  /** Labels of the owner it was signed at, without a leading `*`. */
  readonly labels: number;
  readonly originalTtl: number;
  /** Seconds since the epoch (RFC 4034 §3.1.5: 32-bit serial arithmetic; we stay below 2106). */
  readonly expiration: number;
  readonly inception: number;
  readonly keyTag: number;
  /** The zone apex (lower case, no trailing dot). */
  readonly signer: string;
}

/** RRSIG RDATA up to the signature: 18 fixed bytes and the signer's name, uncompressed (§3.1.7). */
export function rrsigHeader(f: RrsigFields): Buffer {
  const signer = canonicalNameWire(f.signer);
  const out = Buffer.allocUnsafe(18 + signer.length);
  out.writeUInt16BE(f.typeCovered, 0);
  out[2] = f.algorithm;
  out[3] = f.labels;
  out.writeUInt32BE(f.originalTtl >>> 0, 4);
  out.writeUInt32BE(f.expiration >>> 0, 8);
  out.writeUInt32BE(f.inception >>> 0, 12);
  out.writeUInt16BE(f.keyTag, 16);
  signer.copy(out, 18);
  return out;
}

/** The bytes an RRSIG's signature covers (RFC 4034 §3.1.8.1). */
export function signedData(
  header: Buffer,
  owner: string,
  type: number,
  originalTtl: number,
  rrs: readonly Rr[],
): Buffer {
  return Buffer.concat([header, canonicalRrset(owner, type, originalTtl, rrs)]);
}

export interface SigningKey {
  readonly tag: number;
  readonly algorithm: DnssecAlgorithm;
  readonly privateKey: KeyObject;
}

export interface SignRequest {
  /** The owner the RRset is answered (and signed) at. */
  readonly owner: string;
  readonly type: number;
  /** The TTL the RRset is answered with: the RRSIG's original TTL and its own TTL. */
  readonly ttl: number;
  readonly rrs: readonly Rr[];
  readonly signer: string;
  readonly key: SigningKey;
  readonly inception: number;
  readonly expiration: number;
}

/** A signed RRSIG record for an RRset. */
export function makeRrsig(req: SignRequest): Rr {
  const header = rrsigHeader({
    typeCovered: req.type,
    algorithm: req.key.algorithm,
    labels: labelCount(req.owner),
    originalTtl: req.ttl,
    expiration: req.expiration,
    inception: req.inception,
    keyTag: req.key.tag,
    signer: req.signer,
  });
  const signature = signData(
    req.key.privateKey,
    req.key.algorithm,
    signedData(header, req.owner, req.type, req.ttl, req.rrs),
  );
  // The signer's name is written uncompressed as part of the literal header bytes (§3.1.7).
  return { owner: req.owner, type: TYPE.RRSIG, ttl: req.ttl, rdata: [header, signature] };
}
