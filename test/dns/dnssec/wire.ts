// A small DNS message reader and query builder for the DNSSEC tests, written apart from src/dns/wire
// so the tests do not check the code with itself: names decompressed, RDATA of the name-bearing
// types we serve expanded to uncompressed lower-case names (the canonical form, RFC 4034 §6.2),
// RRSIG fields split out.

export interface Record {
  readonly owner: string;
  readonly type: number;
  readonly ttl: number;
  /** RDATA with any compressed names expanded (uncompressed, lower case). */
  readonly rdata: Buffer;
}

export interface Message {
  readonly flags: number;
  readonly rcode: number;
  readonly answer: Record[];
  readonly authority: Record[];
  readonly additional: Record[];
}

export const T = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  DS: 43,
  RRSIG: 46,
  NSEC: 47,
  DNSKEY: 48,
  NXNAME: 128,
  ANY: 255,
} as const;

/** A query: one question, RD clear, optionally EDNS with DO and an IPv4 ECS option. */
export function query(
  id: number,
  name: string,
  qtype: number,
  opts: {
    dnssecOk?: boolean;
    edns?: boolean;
    ecs?: [prefix: number, address: number[]];
    udpSize?: number;
  } = {},
): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(1, 4);
  const edns = opts.edns === true || opts.dnssecOk === true || opts.ecs !== undefined;
  header.writeUInt16BE(edns ? 1 : 0, 10);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(qtype, 0);
  tail.writeUInt16BE(1, 2);
  const parts = [header, nameWire(name), tail];
  if (edns) {
    let rdata = Buffer.alloc(0);
    if (opts.ecs !== undefined) {
      const [prefix, address] = opts.ecs;
      const addr = Buffer.from(address.slice(0, Math.ceil(prefix / 8)));
      rdata = Buffer.alloc(8 + addr.length);
      rdata.writeUInt16BE(8, 0);
      rdata.writeUInt16BE(4 + addr.length, 2);
      rdata.writeUInt16BE(1, 4);
      rdata[6] = prefix;
      addr.copy(rdata, 8);
    }
    const opt = Buffer.alloc(11);
    opt.writeUInt16BE(41, 1);
    opt.writeUInt16BE(opts.udpSize ?? 1232, 3);
    opt[7] = opts.dnssecOk === true ? 0x80 : 0;
    opt.writeUInt16BE(rdata.length, 9);
    parts.push(opt, rdata);
  }
  return Buffer.concat(parts);
}

/** A name (no trailing dot, '' = root) in uncompressed lower-case wire form. */
export function nameWire(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const label of name === '' ? [] : name.toLowerCase().split('.')) {
    const bytes = Buffer.from(label, 'latin1');
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** Reads a (possibly compressed) name at `offset`: the name as text and the offset after it. */
function readName(msg: Buffer, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let p = offset;
  let next = -1;
  for (let hops = 0; hops < 64; hops++) {
    const len = msg[p]!;
    if ((len & 0xc0) === 0xc0) {
      if (next < 0) next = p + 2;
      p = ((len & 0x3f) << 8) | msg[p + 1]!;
      continue;
    }
    if (len === 0) {
      if (next < 0) next = p + 1;
      return { name: labels.join('.').toLowerCase(), next };
    }
    labels.push(msg.toString('latin1', p + 1, p + 1 + len));
    p += 1 + len;
  }
  throw new Error('name loop');
}

/** RDATA with compressed names expanded, for the types whose RDATA holds names we may compress. */
function expandRdata(msg: Buffer, type: number, start: number, length: number): Buffer {
  const raw = msg.subarray(start, start + length);
  const name = (at: number): { wire: Buffer; next: number } => {
    const n = readName(msg, at);
    return { wire: nameWire(n.name), next: n.next };
  };
  switch (type) {
    case T.NS:
    case T.CNAME:
      return name(start).wire;
    case T.MX:
      return Buffer.concat([raw.subarray(0, 2), name(start + 2).wire]);
    case T.SOA: {
      const m = name(start);
      const r = name(m.next);
      return Buffer.concat([m.wire, r.wire, msg.subarray(r.next, r.next + 20)]);
    }
    default:
      return Buffer.from(raw);
  }
}

export function parseMessage(msg: Buffer): Message {
  const flags = msg.readUInt16BE(2);
  const counts = [4, 6, 8, 10].map((o) => msg.readUInt16BE(o));
  let p = 12;
  for (let i = 0; i < counts[0]!; i++) p = readName(msg, p).next + 4;
  const sections: Record[][] = [[], [], []];
  let extRcode = 0;
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]!; i++) {
      const owner = readName(msg, p);
      p = owner.next;
      const type = msg.readUInt16BE(p);
      const ttl = msg.readUInt32BE(p + 4);
      const rdlength = msg.readUInt16BE(p + 8);
      p += 10;
      if (type === T.OPT) extRcode = (ttl >>> 24) & 0xff;
      else sections[s]!.push({ owner: owner.name, type, ttl, rdata: expandRdata(msg, type, p, rdlength) });
      p += rdlength;
    }
  }
  return {
    flags,
    rcode: (extRcode << 4) | (flags & 0x0f),
    answer: sections[0]!,
    authority: sections[1]!,
    additional: sections[2]!,
  };
}

export interface Rrsig {
  readonly typeCovered: number;
  readonly algorithm: number;
  readonly labels: number;
  readonly originalTtl: number;
  readonly expiration: number;
  readonly inception: number;
  readonly keyTag: number;
  readonly signer: string;
  /** RDATA up to the signature (what the signed data starts with). */
  readonly header: Buffer;
  readonly signature: Buffer;
}

export function parseRrsig(rdata: Buffer): Rrsig {
  const signer = readName(rdata, 18);
  return {
    typeCovered: rdata.readUInt16BE(0),
    algorithm: rdata[2]!,
    labels: rdata[3]!,
    originalTtl: rdata.readUInt32BE(4),
    expiration: rdata.readUInt32BE(8),
    inception: rdata.readUInt32BE(12),
    keyTag: rdata.readUInt16BE(16),
    signer: signer.name,
    header: rdata.subarray(0, signer.next),
    signature: rdata.subarray(signer.next),
  };
}

/** NSEC RDATA: the next name and the types in the bitmap. */
export function parseNsec(rdata: Buffer): { next: string; types: number[] } {
  const next = readName(rdata, 0);
  const types: number[] = [];
  let p = next.next;
  while (p < rdata.length) {
    const window = rdata[p]!;
    const length = rdata[p + 1]!;
    for (let i = 0; i < length; i++) {
      const byte = rdata[p + 2 + i]!;
      for (let bit = 0; bit < 8; bit++)
        if ((byte & (0x80 >> bit)) !== 0) types.push(window * 256 + i * 8 + bit);
    }
    p += 2 + length;
  }
  return { next: next.name, types };
}

/**
 * The data an RRSIG signs, built here from the message (RFC 4034 §3.1.8.1): RRSIG RDATA without
 * the signature, then each covered RR as owner | type | class | original TTL | RDLENGTH | RDATA,
 * ordered by RDATA.
 */
export function signedDataOf(rrsig: Rrsig, owner: string, records: readonly Record[]): Buffer {
  const rdatas = records.map((r) => r.rdata).sort((x, y) => Buffer.compare(x, y));
  const parts: Buffer[] = [rrsig.header];
  for (const rdata of rdatas) {
    const fixed = Buffer.alloc(10);
    fixed.writeUInt16BE(rrsig.typeCovered, 0);
    fixed.writeUInt16BE(1, 2);
    fixed.writeUInt32BE(rrsig.originalTtl, 4);
    fixed.writeUInt16BE(rdata.length, 8);
    parts.push(nameWire(owner), fixed, rdata);
  }
  return Buffer.concat(parts);
}
