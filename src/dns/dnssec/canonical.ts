// Canonical form of records for signing (RFC 4034 §6): owner names lower case and uncompressed,
// names inside RDATA lower case and uncompressed (every name-bearing type we serve — NS, CNAME, SOA,
// PTR, MX, SRV — is on the §6.2 list; NSEC's next name is written lower case anyway), and the RRs
// of an RRset ordered by their canonical RDATA bytes (§6.3). Pure.
import { CLASS_IN } from '../wire/constants.js';
import type { RdataPart, Rr } from '../wire/encoder.js';

const ROOT = Buffer.from([0]);
const nameWireCache = new Map<string, Buffer>();

/**
 * A name (lower case, no trailing dot, '' = root, labels as latin1 text) in canonical wire form.
 * Cached: names come from the zones and from the questions of signed negative answers, bounded.
 */
export function canonicalNameWire(name: string): Buffer {
  if (name === '') return ROOT;
  let wire = nameWireCache.get(name);
  if (wire !== undefined) return wire;
  const labels = name.toLowerCase().split('.');
  let length = 1;
  for (const label of labels) length += 1 + label.length;
  wire = Buffer.allocUnsafe(length);
  let p = 0;
  for (const label of labels) {
    wire[p] = label.length;
    wire.write(label, p + 1, 'latin1');
    p += 1 + label.length;
  }
  wire[p] = 0;
  if (nameWireCache.size > 50_000) nameWireCache.clear();
  nameWireCache.set(name, wire);
  return wire;
}

/** The number of labels of a name for the RRSIG Labels field: the root is 0, a leading `*` is not counted. */
export function labelCount(name: string): number {
  if (name === '') return 0;
  let n = 1;
  for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) === 0x2e) n++;
  return name === '*' || name.startsWith('*.') ? n - 1 : n;
}

/** RDATA of one record in canonical form: literal parts as they are, names lower case uncompressed. */
export function canonicalRdata(parts: readonly RdataPart[]): Buffer {
  if (parts.length === 1 && Buffer.isBuffer(parts[0])) return parts[0];
  const out: Buffer[] = [];
  for (const part of parts) out.push(Buffer.isBuffer(part) ? part : canonicalNameWire(part.name));
  return Buffer.concat(out);
}

/**
 * The RR part of RRSIG signed data (RFC 4034 §3.1.8.1): for each RR of the set, in canonical order,
 * owner | type | class | original TTL | RDLENGTH | RDATA. `owner` is the name the RRset is signed
 * at (the query name for records a wildcard synthesized).
 */
export function canonicalRrset(owner: string, type: number, originalTtl: number, rrs: readonly Rr[]): Buffer {
  const ownerWire = canonicalNameWire(owner);
  const rdatas = rrs.map((rr) => canonicalRdata(rr.rdata));
  rdatas.sort((x, y) => Buffer.compare(x, y));
  const parts: Buffer[] = [];
  let previous: Buffer | undefined;
  for (const rdata of rdatas) {
    // Duplicate RRs are not part of an RRset (RFC 2181 §5): sign each value once.
    if (previous !== undefined && previous.equals(rdata)) continue;
    previous = rdata;
    const fixed = Buffer.allocUnsafe(10);
    fixed.writeUInt16BE(type, 0);
    fixed.writeUInt16BE(CLASS_IN, 2);
    fixed.writeUInt32BE(originalTtl >>> 0, 4);
    fixed.writeUInt16BE(rdata.length, 8);
    parts.push(ownerWire, fixed, rdata);
  }
  return Buffer.concat(parts);
}
