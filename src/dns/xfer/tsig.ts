// TSIG (RFC 8945) with HMAC-SHA256 through node:crypto: verifying a signed request, signing the
// reply — every message of a multi-message transfer, each MAC chained to the previous one
// (§5.3.1) — and signing the NOTIFY requests we send. Pure apart from the clock passed in.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { TsigKeyConfig } from '../../config/dns-schema.js';
import type { DeepReadonly } from '../../config/load.js';
import { CLASS_ANY } from '../wire/constants.js';
import { canonicalWire, TYPE_TSIG, withoutTsig, type TsigRecord } from './message.js';

export const ALGORITHM = 'hmac-sha256';
const MAC_BYTES = 32;
/** Seconds of clock skew accepted, and sent in our own signatures (RFC 8945 §10 recommends 300). */
export const FUDGE = 300;

/** TSIG error codes (RFC 8945 §3). */
export const TSIG_ERROR = { NOERROR: 0, BADSIG: 16, BADKEY: 17, BADTIME: 18 } as const;

export interface TsigKey {
  /** Lower case, no trailing dot. */
  readonly name: string;
  readonly secret: Buffer;
}

/** Keys by lower-case name, from `dns.tsigKeys`. */
export function tsigKeyring(keys: readonly DeepReadonly<TsigKeyConfig>[]): Map<string, TsigKey> {
  const ring = new Map<string, TsigKey>();
  for (const k of keys) {
    const name = k.name.toLowerCase().replace(/\.$/, '');
    ring.set(name, { name, secret: Buffer.from(k.secret, 'base64') });
  }
  return ring;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function time48(seconds: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUInt16BE(Math.floor(seconds / 2 ** 32), 0);
  b.writeUInt32BE(seconds % 2 ** 32, 2);
  return b;
}

function lengthPrefixed(mac: Buffer): Buffer {
  return Buffer.concat([u16(mac.length), mac]);
}

/** The TSIG variables digested after the message (§4.3.3): full, or only the timers (§4.3.1). */
function variables(
  key: TsigKey,
  timeSigned: number,
  error: number,
  other: Buffer,
  timersOnly: boolean,
): Buffer {
  const timers = Buffer.concat([time48(timeSigned), u16(FUDGE)]);
  if (timersOnly) return timers;
  return Buffer.concat([
    canonicalWire(key.name),
    u16(CLASS_ANY),
    Buffer.alloc(4), // TTL 0
    canonicalWire(ALGORITHM),
    timers,
    u16(error),
    u16(other.length),
    other,
  ]);
}

/** The TSIG record's bytes (owner and algorithm names uncompressed, as §4.2 requires). */
function tsigRecord(
  key: TsigKey,
  timeSigned: number,
  mac: Buffer,
  originalId: number,
  error: number,
  other: Buffer,
): Buffer {
  const rdata = Buffer.concat([
    canonicalWire(ALGORITHM),
    time48(timeSigned),
    u16(FUDGE),
    lengthPrefixed(mac),
    u16(originalId),
    u16(error),
    lengthPrefixed(other),
  ]);
  return Buffer.concat([
    canonicalWire(key.name),
    u16(TYPE_TSIG),
    u16(CLASS_ANY),
    Buffer.alloc(4),
    u16(rdata.length),
    rdata,
  ]);
}

function appendRecord(message: Buffer, record: Buffer): Buffer {
  const out = Buffer.concat([message, record]);
  out.writeUInt16BE(message.readUInt16BE(10) + 1, 10);
  return out;
}

export type VerifyResult =
  | { readonly ok: true; readonly key: TsigKey; readonly mac: Buffer }
  /** `key` is set when the reply must still be signed (BADTIME), per §5.2.3. */
  | { readonly ok: false; readonly error: number; readonly key?: TsigKey; readonly mac?: Buffer };

/**
 * Verifies a signed request (§5.2): unknown key or algorithm → BADKEY, wrong MAC → BADSIG, time
 * outside the fudge → BADTIME. `nowSeconds` is the server clock.
 */
export function verifyRequest(
  msg: Buffer,
  tsig: TsigRecord,
  keys: ReadonlyMap<string, TsigKey>,
  nowSeconds: number,
): VerifyResult {
  const key = keys.get(tsig.keyName);
  if (key === undefined || tsig.algorithm !== ALGORITHM) return { ok: false, error: TSIG_ERROR.BADKEY };
  const signed = Buffer.concat([
    withoutTsig(msg, tsig, tsig.originalId),
    canonicalWire(key.name),
    u16(CLASS_ANY),
    Buffer.alloc(4),
    canonicalWire(tsig.algorithm),
    time48(tsig.timeSigned),
    u16(tsig.fudge),
    u16(tsig.error),
    lengthPrefixed(tsig.otherData),
  ]);
  const expected = createHmac('sha256', key.secret).update(signed).digest();
  // Truncated MACs (§5.2.2.1) are not accepted: every peer we know sends the full 32 bytes.
  if (tsig.mac.length !== MAC_BYTES || !timingSafeEqual(tsig.mac, expected)) {
    return { ok: false, error: TSIG_ERROR.BADSIG };
  }
  if (Math.abs(nowSeconds - tsig.timeSigned) > tsig.fudge) {
    return { ok: false, error: TSIG_ERROR.BADTIME, key, mac: tsig.mac };
  }
  return { ok: true, key, mac: tsig.mac };
}

/**
 * Signs the messages of one reply (or one request) in order. The first message's MAC covers the
 * request MAC, the message and all TSIG variables; each later one covers the previous MAC, the
 * message and the timers only (RFC 8945 §5.3.1) — every message is signed.
 */
export class TsigSigner {
  private previousMac: Buffer | undefined;
  private first = true;

  constructor(
    private readonly key: TsigKey,
    requestMac: Buffer | undefined,
    private readonly nowSeconds: () => number,
  ) {
    this.previousMac = requestMac;
  }

  get keyName(): string {
    return this.key.name;
  }

  /** The MAC of the last message signed (a reply to it is verified against it). */
  get lastMac(): Buffer | undefined {
    return this.previousMac;
  }

  /** `message` unsigned (no TSIG yet); returns it with its TSIG record. `error`/`other` for BADTIME. */
  sign(message: Buffer, error: number = TSIG_ERROR.NOERROR, other: Buffer = Buffer.alloc(0)): Buffer {
    const now = this.nowSeconds();
    const hmac = createHmac('sha256', this.key.secret);
    if (this.previousMac !== undefined) hmac.update(lengthPrefixed(this.previousMac));
    hmac.update(message);
    hmac.update(variables(this.key, now, error, other, !this.first));
    const mac = hmac.digest();
    this.first = false;
    this.previousMac = mac;
    return appendRecord(message, tsigRecord(this.key, now, mac, message.readUInt16BE(0), error, other));
  }
}

/** An unsigned reply's TSIG record carrying an error (BADKEY, BADSIG: §5.3.2), MAC empty. */
export function appendUnsignedError(
  message: Buffer,
  tsig: TsigRecord,
  error: number,
  nowSeconds: number,
): Buffer {
  const key: TsigKey = { name: tsig.keyName, secret: Buffer.alloc(0) };
  return appendRecord(
    message,
    tsigRecord(key, nowSeconds, Buffer.alloc(0), message.readUInt16BE(0), error, Buffer.alloc(0)),
  );
}

/** The 6-byte "other data" of a BADTIME reply: the server's time (§5.2.3). */
export function serverTime(nowSeconds: number): Buffer {
  return time48(nowSeconds);
}

/** Verifies a signed reply to a request we signed with `requestMac` (for NOTIFY replies). */
export function verifyReply(msg: Buffer, tsig: TsigRecord, key: TsigKey, requestMac: Buffer): boolean {
  if (tsig.keyName !== key.name || tsig.algorithm !== ALGORITHM || tsig.mac.length !== MAC_BYTES)
    return false;
  const signed = Buffer.concat([
    lengthPrefixed(requestMac),
    withoutTsig(msg, tsig, tsig.originalId),
    canonicalWire(key.name),
    u16(CLASS_ANY),
    Buffer.alloc(4),
    canonicalWire(tsig.algorithm),
    time48(tsig.timeSigned),
    u16(tsig.fudge),
    u16(tsig.error),
    lengthPrefixed(tsig.otherData),
  ]);
  return timingSafeEqual(tsig.mac, createHmac('sha256', key.secret).update(signed).digest());
}
