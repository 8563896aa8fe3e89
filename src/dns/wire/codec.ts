// DNS wire format: constants, a one-pass reader for the common query shape, and a small encoder
// with name compression for the answer shapes an authoritative GSLB sends. Pure (no I/O).
//
// Why not dns2's encoder: it writes bit by bit (~21 µs per reply, see dns-standards.md); building
// the bytes here costs ~1 µs. dns2 still parses every query that is not of the plain shape
// (see query.ts) and frames TCP (server.ts).

export const TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  HINFO: 13,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  DS: 43,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
  CAA: 257,
} as const;

export const CLASS_IN = 1;
export const CLASS_ANY = 255;

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  BADVERS: 16,
} as const;

export const RCODE_NAME: Readonly<Record<number, string>> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
  16: 'BADVERS',
};

const QTYPE_LABEL = new Map<number, string>([
  [1, 'A'],
  [2, 'NS'],
  [5, 'CNAME'],
  [6, 'SOA'],
  [12, 'PTR'],
  [13, 'HINFO'],
  [15, 'MX'],
  [16, 'TXT'],
  [28, 'AAAA'],
  [33, 'SRV'],
  [43, 'DS'],
  [48, 'DNSKEY'],
  [64, 'SVCB'],
  [65, 'HTTPS'],
  [251, 'IXFR'],
  [252, 'AXFR'],
  [255, 'ANY'],
  [257, 'CAA'],
]);

/** Metric label for a qtype: its mnemonic for common types, OTHER otherwise (bounded cardinality). */
export function qtypeLabel(qtype: number | undefined): string {
  if (qtype === undefined) return 'NONE';
  return QTYPE_LABEL.get(qtype) ?? 'OTHER';
}

export const EDNS_ECS = 8;

/** Header flag bits (second 16-bit word). */
export const FLAG_QR = 0x8000;
export const FLAG_AA = 0x0400;
export const FLAG_TC = 0x0200;
export const FLAG_RD = 0x0100;
export const FLAG_CD = 0x0010;

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

// ------------------------------------------------------------------------------------ encoding

/** A piece of RDATA: literal bytes or a domain name (compressible or not, RFC 3597 §4). */
export type RdataPart = Buffer | { readonly name: string; readonly compress: boolean };

export interface Rr {
  /** Lower-case owner name; the question's name is written as a pointer to the question. */
  readonly owner: string;
  readonly type: number;
  readonly ttl: number;
  readonly rdata: readonly RdataPart[];
}

export interface EncodeInput {
  readonly id: number;
  /** Flags word for the reply, including QR/AA/TC/RD/CD and the low four RCODE bits. */
  readonly flags: number;
  readonly question: Question | undefined;
  readonly answers: readonly Rr[];
  readonly authority: readonly Rr[];
  readonly additional: readonly Rr[];
  /** Adds an OPT record when defined. */
  readonly opt:
    | {
        readonly udpSize: number;
        readonly extRcode: number;
        readonly dnssecOk: boolean;
        readonly ecs: EcsOption | undefined;
        readonly scope: number;
      }
    | undefined;
}

interface NameInfo {
  readonly suffixes: readonly string[];
  readonly labels: readonly Buffer[];
}

const nameInfoCache = new Map<string, NameInfo>();

function nameInfo(name: string): NameInfo {
  let info = nameInfoCache.get(name);
  if (info !== undefined) return info;
  const labels = name === '' ? [] : name.split('.');
  info = {
    suffixes: labels.map((_, i) => labels.slice(i).join('.')),
    labels: labels.map((l) => Buffer.from(l, 'latin1')),
  };
  // Names come from the configuration and from CNAME chains inside it, so this stays small; the
  // bound protects against a pathological configuration.
  if (nameInfoCache.size > 100_000) nameInfoCache.clear();
  nameInfoCache.set(name, info);
  return info;
}

/** Encodes replies into one reusable buffer; `encode` returns a fresh copy. Not re-entrant. */
export class Encoder {
  private readonly buf = Buffer.alloc(65535);
  private pos = 0;
  private names: Map<string, number> | undefined;
  private question: Question | undefined;
  /** Set when a record did not fit in 65535 bytes. */
  private overflow = false;

  encode(input: EncodeInput): Buffer {
    const b = this.buf;
    this.pos = 12;
    this.names = undefined;
    this.overflow = false;
    this.question = input.question;
    b.writeUInt16BE(input.id, 0);
    b.writeUInt16BE(input.flags, 2);
    let qd = 0;
    if (input.question !== undefined) {
      const q = input.question;
      qd = 1;
      q.nameWire.copy(b, 12);
      this.pos = 12 + q.nameWire.length;
      b.writeUInt16BE(q.qtype, this.pos);
      b.writeUInt16BE(q.qclass, this.pos + 2);
      this.pos += 4;
    }
    b.writeUInt16BE(qd, 4);
    let an = 0;
    let ns = 0;
    let ar = 0;
    for (const rr of input.answers) if (this.writeRr(rr)) an++;
    for (const rr of input.authority) if (this.writeRr(rr)) ns++;
    for (const rr of input.additional) if (this.writeRr(rr)) ar++;
    if (input.opt !== undefined) {
      this.writeOpt(input.opt);
      ar++;
    }
    b.writeUInt16BE(an, 6);
    b.writeUInt16BE(ns, 8);
    b.writeUInt16BE(ar, 10);
    const out = Buffer.allocUnsafe(this.pos);
    b.copy(out, 0, 0, this.pos);
    return out;
  }

  private room(n: number): boolean {
    if (this.pos + n > this.buf.length) {
      this.overflow = true;
      return false;
    }
    return true;
  }

  private initNames(): Map<string, number> {
    const names = new Map<string, number>();
    const q = this.question;
    if (q !== undefined && q.plain && q.name !== '') {
      // Suffixes of the question name point into the question (offset 12 onwards).
      let off = 12;
      let rest = q.name;
      for (;;) {
        names.set(rest, off);
        const dot = rest.indexOf('.');
        if (dot < 0) break;
        off += 1 + dot;
        rest = rest.slice(dot + 1);
      }
    }
    this.names = names;
    return names;
  }

  private writeName(name: string, compress: boolean): boolean {
    const names = this.names ?? this.initNames();
    const info = nameInfo(name);
    const b = this.buf;
    for (let i = 0; i < info.labels.length; i++) {
      const suffix = info.suffixes[i]!;
      if (compress) {
        const ptr = names.get(suffix);
        if (ptr !== undefined) {
          if (!this.room(2)) return false;
          b.writeUInt16BE(0xc000 | ptr, this.pos);
          this.pos += 2;
          return true;
        }
      }
      if (this.pos < 0x3fff && !names.has(suffix)) names.set(suffix, this.pos);
      const label = info.labels[i]!;
      if (!this.room(1 + label.length)) return false;
      b[this.pos] = label.length;
      label.copy(b, this.pos + 1);
      this.pos += 1 + label.length;
    }
    if (!this.room(1)) return false;
    b[this.pos++] = 0;
    return true;
  }

  private writeRr(rr: Rr): boolean {
    const start = this.pos;
    const b = this.buf;
    const q = this.question;
    if (q !== undefined && q.plain && rr.owner === q.name) {
      if (!this.room(2)) return false;
      b.writeUInt16BE(0xc00c, this.pos);
      this.pos += 2;
    } else if (!this.writeName(rr.owner, true)) {
      this.pos = start;
      return false;
    }
    if (!this.room(10)) {
      this.pos = start;
      return false;
    }
    b.writeUInt16BE(rr.type, this.pos);
    b.writeUInt16BE(CLASS_IN, this.pos + 2);
    b.writeUInt32BE(Math.min(rr.ttl, 0x7fffffff) >>> 0, this.pos + 4);
    const rdlenAt = this.pos + 8;
    this.pos += 10;
    for (const part of rr.rdata) {
      if (Buffer.isBuffer(part)) {
        if (!this.room(part.length)) {
          this.pos = start;
          return false;
        }
        part.copy(b, this.pos);
        this.pos += part.length;
      } else if (!this.writeName(part.name, part.compress)) {
        this.pos = start;
        return false;
      }
    }
    b.writeUInt16BE(this.pos - rdlenAt - 2, rdlenAt);
    return true;
  }

  private writeOpt(opt: NonNullable<EncodeInput['opt']>): void {
    const b = this.buf;
    const ecsLen = opt.ecs === undefined ? 0 : 8 + opt.ecs.address.length;
    // Space for the OPT is always kept: at most 11 + 4 + 4 + 16 bytes.
    if (this.pos + 11 + ecsLen > b.length) return;
    b[this.pos] = 0;
    b.writeUInt16BE(TYPE.OPT, this.pos + 1);
    b.writeUInt16BE(opt.udpSize, this.pos + 3);
    b[this.pos + 5] = opt.extRcode;
    b[this.pos + 6] = 0; // version 0
    b[this.pos + 7] = opt.dnssecOk ? 0x80 : 0;
    b[this.pos + 8] = 0;
    b.writeUInt16BE(ecsLen, this.pos + 9);
    this.pos += 11;
    if (opt.ecs !== undefined) {
      const e = opt.ecs;
      b.writeUInt16BE(EDNS_ECS, this.pos);
      b.writeUInt16BE(4 + e.address.length, this.pos + 2);
      b.writeUInt16BE(e.family, this.pos + 4);
      b[this.pos + 6] = e.sourcePrefix;
      b[this.pos + 7] = opt.scope;
      e.address.copy(b, this.pos + 8);
      this.pos += 8 + e.address.length;
    }
  }

  /** Whether the last `encode` had to leave records out because the message hit 65535 bytes. */
  get overflowed(): boolean {
    return this.overflow;
  }
}

/** The bare 12-byte FORMERR/NOTIMP reply used when nothing past the header can be trusted. */
export function headerOnlyReply(msg: Buffer, rcode: number): Buffer {
  const out = Buffer.alloc(12);
  out[0] = msg[0]!;
  out[1] = msg[1]!;
  // QR=1, opcode echoed, RD echoed, CD echoed; everything else clear.
  out[2] = 0x80 | (msg[2]! & 0x79);
  out[3] = (msg[3]! & 0x10) | (rcode & 0x0f);
  return out;
}

/** Encodes a presentation-form character-string list (TXT, HINFO) into RDATA bytes. */
export function characterStrings(strings: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const s of strings) parts.push(Buffer.from([s.length]), s);
  return Buffer.concat(parts);
}
