// Reads the messages of zone transfer and NOTIFY (RFC 5936, 1995, 1996): header, one question, the
// IXFR client's SOA serial in AUTHORITY, and a TSIG record at the end of ADDITIONAL (RFC 8945) with
// the byte offset where it starts, so the MAC can be computed over the message without it. Unlike
// the query hot path's reader this one follows compression pointers, since requests and NOTIFY
// replies may compress. Pure (no I/O); returns undefined for anything malformed.
import { CLASS_ANY, TYPE } from '../wire/constants.js';

export const TYPE_TSIG = 250;
export const OPCODE_NOTIFY = 4;
export const RCODE_NOTAUTH = 9;

export interface ReadName {
  /** Lower-case presentation form without the trailing dot ('' for the root). */
  readonly name: string;
  /** The name's wire form, uncompressed, in the case received. */
  readonly wire: Buffer;
  /** Offset just past the name where it was read (not where a pointer led). */
  readonly end: number;
}

/** Reads a possibly compressed name at `offset`; undefined when it is malformed. */
export function readName(msg: Buffer, offset: number): ReadName | undefined {
  const parts: Buffer[] = [];
  let p = offset;
  let end = -1;
  let jumps = 0;
  let length = 1;
  for (;;) {
    if (p >= msg.length) return undefined;
    const l = msg[p]!;
    if (l === 0) {
      if (end < 0) end = p + 1;
      break;
    }
    if ((l & 0xc0) === 0xc0) {
      if (p + 1 >= msg.length || ++jumps > 64) return undefined;
      if (end < 0) end = p + 2;
      p = ((l & 0x3f) << 8) | msg[p + 1]!;
      continue;
    }
    if (l > 63 || p + 1 + l > msg.length) return undefined;
    length += 1 + l;
    if (length > 255) return undefined;
    parts.push(msg.subarray(p, p + 1 + l));
    p += 1 + l;
  }
  parts.push(Buffer.from([0]));
  const wire = Buffer.concat(parts);
  const labels: string[] = [];
  for (let i = 0; wire[i] !== 0; i += 1 + wire[i]!)
    labels.push(wire.toString('latin1', i + 1, i + 1 + wire[i]!).toLowerCase());
  return { name: labels.join('.'), wire, end };
}

/** The uncompressed, lower-case wire form of a presentation name (the canonical form TSIG digests). */
export function canonicalWire(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const label of name === '' ? [] : name.toLowerCase().replace(/\.$/, '').split('.')) {
    const bytes = Buffer.from(label, 'latin1');
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

export interface TsigRecord {
  readonly keyName: string;
  readonly algorithm: string;
  readonly timeSigned: number;
  readonly fudge: number;
  readonly mac: Buffer;
  readonly originalId: number;
  readonly error: number;
  readonly otherData: Buffer;
  /** Offset of the TSIG record in the message: the signed data is the bytes before it. */
  readonly start: number;
}

export interface TransferMessage {
  readonly id: number;
  readonly flags: number;
  readonly opcode: number;
  readonly rcode: number;
  readonly question: {
    readonly name: string;
    readonly wire: Buffer;
    readonly qtype: number;
    readonly qclass: number;
  };
  /** IXFR: the serial of the SOA the client sent in AUTHORITY. */
  readonly clientSerial: number | undefined;
  readonly tsig: TsigRecord | undefined;
}

interface RecordHead {
  readonly owner: ReadName;
  readonly type: number;
  readonly klass: number;
  readonly ttl: number;
  readonly rdata: number;
  readonly rdlength: number;
}

function readRecord(msg: Buffer, offset: number): RecordHead | undefined {
  const owner = readName(msg, offset);
  if (owner === undefined || owner.end + 10 > msg.length) return undefined;
  const rdlength = msg.readUInt16BE(owner.end + 8);
  if (owner.end + 10 + rdlength > msg.length) return undefined;
  return {
    owner,
    type: msg.readUInt16BE(owner.end),
    klass: msg.readUInt16BE(owner.end + 2),
    ttl: msg.readUInt32BE(owner.end + 4),
    rdata: owner.end + 10,
    rdlength,
  };
}

function readTsig(msg: Buffer, head: RecordHead, start: number): TsigRecord | undefined {
  const alg = readName(msg, head.rdata);
  if (alg === undefined) return undefined;
  let p = alg.end;
  const end = head.rdata + head.rdlength;
  if (p + 10 > end) return undefined;
  const timeSigned = msg.readUInt16BE(p) * 2 ** 32 + msg.readUInt32BE(p + 2);
  const fudge = msg.readUInt16BE(p + 6);
  const macSize = msg.readUInt16BE(p + 8);
  p += 10;
  if (p + macSize + 6 > end) return undefined;
  const mac = msg.subarray(p, p + macSize);
  p += macSize;
  const originalId = msg.readUInt16BE(p);
  const error = msg.readUInt16BE(p + 2);
  const otherLen = msg.readUInt16BE(p + 4);
  p += 6;
  if (p + otherLen !== end) return undefined;
  return {
    keyName: head.owner.name,
    algorithm: alg.name,
    timeSigned,
    fudge,
    mac,
    originalId,
    error,
    otherData: msg.subarray(p, end),
    start,
  };
}

/**
 * Reads a message with exactly one question. A TSIG record must be the last record, of class ANY
 * and TTL 0 (RFC 8945 §4.2, §5.1), else the message is malformed.
 */
export function readTransferMessage(msg: Buffer): TransferMessage | undefined {
  if (msg.length < 12) return undefined;
  const qd = msg.readUInt16BE(4);
  const an = msg.readUInt16BE(6);
  const ns = msg.readUInt16BE(8);
  const ar = msg.readUInt16BE(10);
  if (qd !== 1) return undefined;
  const qname = readName(msg, 12);
  if (qname === undefined || qname.end + 4 > msg.length) return undefined;
  const question = {
    name: qname.name,
    wire: qname.wire,
    qtype: msg.readUInt16BE(qname.end),
    qclass: msg.readUInt16BE(qname.end + 2),
  };
  let p = qname.end + 4;
  let clientSerial: number | undefined;
  let tsig: TsigRecord | undefined;
  const total = an + ns + ar;
  for (let i = 0; i < total; i++) {
    const head = readRecord(msg, p);
    if (head === undefined || tsig !== undefined) return undefined;
    if (i >= an && i < an + ns && head.type === TYPE.SOA) {
      // The serial is the first of the five numbers after MNAME and RNAME.
      const mname = readName(msg, head.rdata);
      const rname = mname === undefined ? undefined : readName(msg, mname.end);
      if (rname === undefined || rname.end + 20 > head.rdata + head.rdlength) return undefined;
      clientSerial = msg.readUInt32BE(rname.end);
    }
    if (head.type === TYPE_TSIG) {
      // RFC 8945 §4.2: the last record, class ANY, TTL 0.
      if (i !== total - 1 || head.klass !== CLASS_ANY || head.ttl !== 0) return undefined;
      tsig = readTsig(msg, head, p);
      if (tsig === undefined) return undefined;
    }
    p = head.rdata + head.rdlength;
  }
  if (p !== msg.length) return undefined;
  const flags = msg.readUInt16BE(2);
  return {
    id: msg.readUInt16BE(0),
    flags,
    opcode: (flags >> 11) & 0x0f,
    rcode: flags & 0x0f,
    question,
    clientSerial,
    tsig,
  };
}

/** The message without its TSIG record, ARCOUNT one less and the ID set back to `id`. */
export function withoutTsig(msg: Buffer, tsig: TsigRecord, id: number): Buffer {
  const out = Buffer.from(msg.subarray(0, tsig.start));
  out.writeUInt16BE(id, 0);
  out.writeUInt16BE(msg.readUInt16BE(10) - 1, 10);
  return out;
}

/**
 * Whether a message is one the transfer layer must see rather than the query hot path: NOTIFY, an
 * AXFR/IXFR question, or anything with records besides one root OPT (a TSIG-signed query). A scan of
 * the question only; plain queries (with or without an OPT) say no.
 */
export function needsTransferLayer(msg: Buffer): boolean {
  if (msg.length < 12) return false;
  if (((msg[2]! >> 3) & 0x0f) === OPCODE_NOTIFY) return true;
  let p = 12;
  while (p < msg.length) {
    const l = msg[p]!;
    if (l === 0) break;
    if (l > 63) return true; // compressed question: not the hot path's shape; let the full reader judge
    p += 1 + l;
  }
  if (p + 5 > msg.length) return false;
  const qtype = msg.readUInt16BE(p + 1);
  if (qtype === TYPE.AXFR || qtype === TYPE.IXFR) return true;
  const an = msg.readUInt16BE(6);
  const ns = msg.readUInt16BE(8);
  const ar = msg.readUInt16BE(10);
  if (an === 0 && ns === 0 && ar === 0) return false;
  if (an === 0 && ns === 0 && ar === 1) {
    const rr = p + 5;
    return !(rr + 3 <= msg.length && msg[rr] === 0 && msg.readUInt16BE(rr + 1) === TYPE.OPT);
  }
  return true;
}
