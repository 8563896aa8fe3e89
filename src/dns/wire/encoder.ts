// The DNS reply encoder: one reusable buffer, the answer shapes an authoritative GSLB sends, name
// compression through names.ts, and the OPT record (with the ECS scope). Pure (no I/O).
//
// Why not dns2's encoder: it writes bit by bit (~21 µs per reply, see dns-standards.md); building
// the bytes here costs ~1 µs. dns2 still parses every query that is not of the plain shape
// (see query.ts) and frames TCP (server.ts).
import { CLASS_IN, EDNS_ECS, TYPE } from './constants.js';
import { nameInfo, questionNameTable } from './names.js';
import type { EcsOption, Question } from './reader.js';

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
    const names = questionNameTable(this.question);
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
