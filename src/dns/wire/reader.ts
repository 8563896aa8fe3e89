// The one-pass reader for the common DNS query shape, and ECS option checks. Pure (no I/O).
//
// dns2's Packet.parse still reads every query that is not of the plain shape (query.ts); this one
// reads the plain shape — one uncompressed question, at most an OPT record — with no allocation but
// the result, which is what keeps the DNS hot path cheap.
import { EDNS_ECS, TYPE } from './constants.js';

export interface Question {
  /** The QNAME exactly as received, uncompressed wire form (original case). */
  readonly nameWire: Buffer;
  /** Lower-case presentation form without the trailing dot ('' for the root). */
  readonly name: string;
  /** False when a label contains a '.' or the name cannot be presented unambiguously. */
  readonly plain: boolean;
  readonly qtype: number;
  readonly qclass: number;
}

export interface EcsOption {
  readonly family: number;
  readonly sourcePrefix: number;
  readonly scopePrefix: number;
  /** ADDRESS as received (ceil(source/8) bytes when valid). */
  readonly address: Buffer;
}

export interface OptInfo {
  readonly udpSize: number;
  readonly extRcode: number;
  readonly version: number;
  readonly dnssecOk: boolean;
  readonly ecs: EcsOption | undefined;
  /** More than one ECS option. */
  readonly duplicateEcs: boolean;
}

export interface ParsedQuery {
  readonly id: number;
  /** The query's flag word (QR, opcode, AA, TC, RD, RA, Z, AD, CD, RCODE). */
  readonly flags: number;
  readonly opcode: number;
  readonly qdcount: number;
  /** The first question when it could be read. */
  readonly question: Question | undefined;
  readonly opt: OptInfo | undefined;
  /** Why the message is malformed (→ FORMERR); undefined when it is well formed. */
  readonly malformed: string | undefined;
  /** Which parser produced this: the one-pass fast path or dns2's Packet.parse. */
  readonly parser: 'fast' | 'dns2';
}

const scratch = Buffer.allocUnsafe(256);

/**
 * Reads a query of the plain shape — QDCOUNT=1 with an uncompressed QNAME, no answer or authority
 * records, and at most one additional record which is an OPT owned by the root — in one pass.
 * Returns undefined for anything else (the caller falls back to dns2's parser), and for messages
 * shorter than a header.
 */
export function parseQueryFast(msg: Buffer): ParsedQuery | undefined {
  const len = msg.length;
  if (len < 17) return undefined;
  const qdcount = (msg[4]! << 8) | msg[5]!;
  if (qdcount !== 1 || msg[6] !== 0 || msg[7] !== 0 || msg[8] !== 0 || msg[9] !== 0) return undefined;
  const arcount = (msg[10]! << 8) | msg[11]!;
  if (arcount > 1) return undefined;
  // QNAME: labels, lower-cased into the scratch buffer.
  let p = 12;
  let s = 0;
  let plain = true;
  for (;;) {
    if (p >= len) return undefined;
    const l = msg[p]!;
    if (l === 0) break;
    if (l > 63) return undefined; // compression pointer or reserved label type
    if (p + 1 + l >= len) return undefined;
    if (s + l + 1 > 255) return undefined;
    if (s > 0) scratch[s++] = 0x2e;
    for (let i = p + 1, end = p + 1 + l; i < end; i++) {
      let c = msg[i]!;
      if (c >= 0x41 && c <= 0x5a) c |= 0x20;
      else if (c === 0x2e) plain = false;
      scratch[s++] = c;
    }
    p += 1 + l;
  }
  const nameEnd = p + 1;
  if (nameEnd + 4 > len) return undefined;
  const qtype = (msg[nameEnd]! << 8) | msg[nameEnd + 1]!;
  const qclass = (msg[nameEnd + 2]! << 8) | msg[nameEnd + 3]!;
  p = nameEnd + 4;
  let opt: OptInfo | undefined;
  if (arcount === 1) {
    // OPT: root owner (1) + type (2) + class (2) + ttl (4) + rdlength (2)
    if (p + 11 > len || msg[p] !== 0) return undefined;
    const type = (msg[p + 1]! << 8) | msg[p + 2]!;
    if (type !== TYPE.OPT) return undefined;
    const udpSize = (msg[p + 3]! << 8) | msg[p + 4]!;
    const extRcode = msg[p + 5]!;
    const version = msg[p + 6]!;
    const dnssecOk = (msg[p + 7]! & 0x80) !== 0;
    const rdlen = (msg[p + 9]! << 8) | msg[p + 10]!;
    p += 11;
    const end = p + rdlen;
    if (end !== len) return undefined;
    let ecs: EcsOption | undefined;
    let duplicateEcs = false;
    while (p < end) {
      if (p + 4 > end) return undefined;
      const code = (msg[p]! << 8) | msg[p + 1]!;
      const olen = (msg[p + 2]! << 8) | msg[p + 3]!;
      p += 4;
      if (p + olen > end) return undefined;
      if (code === EDNS_ECS) {
        if (ecs !== undefined) duplicateEcs = true;
        else if (olen < 4)
          return undefined; // let dns2 describe it
        else
          ecs = {
            family: (msg[p]! << 8) | msg[p + 1]!,
            sourcePrefix: msg[p + 2]!,
            scopePrefix: msg[p + 3]!,
            address: msg.subarray(p + 4, p + olen),
          };
      }
      p += olen;
    }
    opt = { udpSize, extRcode, version, dnssecOk, ecs, duplicateEcs };
  } else if (p !== len) {
    return undefined; // trailing bytes: let dns2 judge
  }
  return {
    id: (msg[0]! << 8) | msg[1]!,
    flags: (msg[2]! << 8) | msg[3]!,
    opcode: (msg[2]! >> 3) & 0x0f,
    qdcount,
    question: {
      nameWire: msg.subarray(12, nameEnd),
      name: scratch.toString('latin1', 0, s),
      plain,
      qtype,
      qclass,
    },
    opt,
    malformed: undefined,
    parser: 'fast',
  };
}

/** Why an ECS option is invalid per RFC 7871 §6, or undefined when it is valid. */
export function ecsProblem(ecs: EcsOption): string | undefined {
  if (ecs.family !== 1 && ecs.family !== 2) return `ECS family ${ecs.family} (expected 1 or 2)`;
  const max = ecs.family === 1 ? 32 : 128;
  if (ecs.sourcePrefix > max) return `ECS source prefix /${ecs.sourcePrefix} exceeds ${max}`;
  const want = Math.ceil(ecs.sourcePrefix / 8);
  if (ecs.address.length !== want) {
    return `ECS address is ${ecs.address.length} bytes, expected ${want} for /${ecs.sourcePrefix}`;
  }
  const rem = ecs.sourcePrefix & 7;
  if (rem !== 0) {
    const last = ecs.address[want - 1]!;
    if ((last & (0xff >> rem)) !== 0) return `ECS address has bits set beyond /${ecs.sourcePrefix}`;
  }
  return undefined;
}

/** The ECS address as text, zero-padded to the full family length. */
export function ecsAddressText(ecs: EcsOption): string {
  if (ecs.family === 1) {
    const a = ecs.address;
    return `${a[0] ?? 0}.${a[1] ?? 0}.${a[2] ?? 0}.${a[3] ?? 0}`;
  }
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2)
    parts.push((((ecs.address[i] ?? 0) << 8) | (ecs.address[i + 1] ?? 0)).toString(16));
  return parts.join(':');
}
