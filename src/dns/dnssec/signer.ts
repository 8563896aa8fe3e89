// The signing step: an Answer built by resolve/steer for a query with DO=1 → the same Answer with an
// RRSIG after every RRset of a signed zone in the answer and authority sections, and the compact
// denial proofs (RFC 9824):
//   - a name that does not exist: NOERROR, SOA + NSEC owned by the name, next name `\000.<name>`,
//     types {RRSIG, NSEC, NXNAME};
//   - NODATA: NSEC at the name with the types the name has (minus the one asked for);
//   - a referral (every delegation is unsigned: we hold no DS): NSEC at the cut with {NS, RRSIG, NSEC}.
// Not signed: the NS RRset of a referral (the child's data) and the additional section (glue).
// The DNSKEY RRset is signed by the KSK, everything else by the active ZSK. Signatures are cached
// (signature-cache.ts); unsigned queries never come here.
import type { DnsMetrics } from '../metrics.js';
import type { Answer } from '../answer/encode.js';
import type { Zone, ZoneNode, ZoneSet } from '../answer/zones.js';
import { RCODE, TYPE } from '../wire/constants.js';
import type { Rr } from '../wire/encoder.js';
import { NXNAME_BITMAP, nsecRecord, typeBitmap } from './nsec.js';
import { makeRrsig } from './rrsig.js';
import { SignatureCache } from './signature-cache.js';
import type { KeyState, ZoneKey } from './zone-keys.js';

const HOUR_MS = 3_600_000;
const REFERRAL_BITMAP = typeBitmap([TYPE.NS, TYPE.RRSIG, TYPE.NSEC]);

export interface SignerOptions {
  readonly zones: ZoneSet;
  readonly now?: () => number;
  readonly metrics?: DnsMetrics | undefined;
  readonly cache?: SignatureCache;
}

export class Signer {
  /** Whether any zone is signed (else DO queries skip this step too). */
  readonly active: boolean;
  readonly cache: SignatureCache;
  private readonly zones: ZoneSet;
  private readonly now: () => number;
  private readonly metrics: DnsMetrics | undefined;
  private readonly signedZones: readonly Zone[];
  /** Per node, the NODATA bitmap (types at the node + RRSIG + NSEC) when the asked type is not among them. */
  private readonly nodeBitmaps = new WeakMap<ZoneNode, Buffer>();
  private epochCounter = 0;
  private epochKeys = -1;
  /** The epoch holds in [epochFrom, epochUntil): the hour, cut short by the next key phase change. */
  private epochFrom = 0;
  private epochUntil = 0;

  constructor(options: SignerOptions) {
    this.zones = options.zones;
    this.now = options.now ?? Date.now;
    this.metrics = options.metrics;
    this.cache = options.cache ?? new SignatureCache();
    this.signedZones = options.zones.zones.filter((z) => z.dnssec !== undefined);
    this.active = this.signedZones.length > 0;
  }

  /**
   * A number for the answer cache's DO entries: it changes every hour and whenever a zone's keys
   * change phase, so no cached reply outlives its signatures' refresh by more than an hour, and none
   * signed by a retired key or carrying an old DNSKEY RRset is served after the change.
   */
  epoch(nowMs: number): number {
    // Asked on every DO answer-cache hit: one comparison until the hour or a key phase ends.
    if (nowMs >= this.epochFrom && nowMs < this.epochUntil) return this.epochCounter;
    const hourStart = Math.floor(nowMs / HOUR_MS) * HOUR_MS;
    let until = hourStart + HOUR_MS;
    let keys = 0;
    for (const z of this.signedZones) {
      keys += z.dnssec!.epoch(nowMs);
      until = Math.min(until, z.dnssec!.at(nowMs).until);
    }
    if (hourStart !== this.epochFrom || keys !== this.epochKeys) this.epochCounter++;
    this.epochKeys = keys;
    this.epochFrom = hourStart;
    this.epochUntil = until;
    return this.epochCounter;
  }

  /** Signs `ans`, the answer to (`qname`, `qtype`), in place. */
  sign(ans: Answer, qname: string, qtype: number): void {
    const now = this.now();
    // The name the answer ends at: the query name, or the last in-zone CNAME target.
    let finalName = qname;
    for (const rr of ans.answers) {
      if (rr.type !== TYPE.CNAME || rr.owner !== finalName) continue;
      const target = rr.rdata[0];
      if (target !== undefined && !Buffer.isBuffer(target)) finalName = target.name;
    }
    const proof = this.denial(ans, finalName, qtype, now);
    const answers = this.signSection(ans.answers, now);
    const authority = this.signSection(ans.authority, now);
    if (proof !== undefined) {
      const signed = this.withSignature(proof.nsec, proof.zone, proof.keys, now);
      if (qtype === TYPE.NSEC && ans.aa && proof.nsec.owner === finalName) {
        // An NSEC query is answered with the proof itself.
        answers.push(...signed);
        authority.length = 0;
      } else authority.push(...signed);
    }
    replace(ans.answers, answers);
    replace(ans.authority, authority);
  }

  /** The NSEC proof the answer needs (NXDOMAIN becomes NOERROR here), if any. */
  private denial(
    ans: Answer,
    finalName: string,
    qtype: number,
    now: number,
  ): { nsec: Rr; zone: Zone; keys: KeyState } | undefined {
    if (ans.rcode === RCODE.NXDOMAIN) {
      const zone = this.zones.zoneOf(finalName);
      const keys = zone?.dnssec?.at(now);
      if (zone === undefined || keys?.zsk === undefined) return undefined;
      ans.rcode = RCODE.NOERROR;
      return { nsec: nsecRecord(finalName, zone.name, zone.negativeSoa.ttl, NXNAME_BITMAP), zone, keys };
    }
    if (ans.rcode !== RCODE.NOERROR) return undefined;
    // A referral: the NS RRset of a cut in the authority section.
    for (const rr of ans.authority) {
      if (rr.type !== TYPE.NS) continue;
      const zone = this.zones.zoneOf(rr.owner);
      if (zone === undefined || zone.name === rr.owner) continue;
      const keys = zone.dnssec?.at(now);
      if (keys?.zsk === undefined) return undefined;
      return { nsec: nsecRecord(rr.owner, zone.name, zone.negativeSoa.ttl, REFERRAL_BITMAP), zone, keys };
    }
    // NODATA: the negative SOA and nothing of the asked type at the final name.
    const soa = ans.authority.find((rr) => rr.type === TYPE.SOA);
    if (soa === undefined) return undefined;
    for (const rr of ans.answers)
      if (rr.owner === finalName && (rr.type === qtype || qtype === TYPE.ANY)) return undefined;
    const lk = this.zones.lookup(finalName);
    if (lk.kind === 'refused' || lk.kind === 'nxdomain') return undefined;
    const zone = lk.zone;
    const keys = zone.dnssec?.at(now);
    if (keys?.zsk === undefined) return undefined;
    const bitmap = lk.kind === 'referral' ? REFERRAL_BITMAP : this.nodataBitmap(lk.node, zone, qtype);
    return { nsec: nsecRecord(finalName, zone.name, zone.negativeSoa.ttl, bitmap), zone, keys };
  }

  /** The types at a node (balanced names: A and AAAA; the apex: DNSKEY), without `qtype`, + RRSIG and NSEC. */
  private nodataBitmap(node: ZoneNode, zone: Zone, qtype: number): Buffer {
    const types = new Set<number>(node.rrsets.keys());
    if (node.balanced !== undefined) {
      types.add(TYPE.A);
      types.add(TYPE.AAAA);
    }
    if (node === zone.apex) types.add(TYPE.DNSKEY);
    const plain = !types.has(qtype);
    if (plain) {
      const known = this.nodeBitmaps.get(node);
      if (known !== undefined) return known;
    }
    types.delete(qtype);
    types.add(TYPE.RRSIG);
    types.add(TYPE.NSEC);
    const bitmap = typeBitmap(types);
    if (plain) this.nodeBitmaps.set(node, bitmap);
    return bitmap;
  }

  /** The records of a section with an RRSIG after each RRset of a signed zone. */
  private signSection(records: readonly Rr[], now: number): Rr[] {
    const out: Rr[] = [];
    let i = 0;
    while (i < records.length) {
      const first = records[i]!;
      let end = i + 1;
      while (end < records.length && records[end]!.type === first.type && records[end]!.owner === first.owner)
        end++;
      const rrs = records.slice(i, end);
      i = end;
      for (const rr of rrs) out.push(rr);
      const zone = this.zones.zoneOf(first.owner);
      const keys = zone?.dnssec?.at(now);
      if (zone === undefined || keys === undefined) continue;
      // The NS RRset of a delegation is the child's: the parent does not sign it (RFC 4035 §2.2).
      if (first.type === TYPE.NS && first.owner !== zone.name) continue;
      const rrsig = this.rrsigFor(rrs, zone, keys, now);
      if (rrsig !== undefined) out.push(rrsig);
    }
    return out;
  }

  private withSignature(rr: Rr, zone: Zone, keys: KeyState, now: number): Rr[] {
    const rrsig = this.rrsigFor([rr], zone, keys, now);
    return rrsig === undefined ? [rr] : [rr, rrsig];
  }

  /** The RRSIG for one RRset: cached, else made now. */
  private rrsigFor(rrs: readonly Rr[], zone: Zone, keys: KeyState, now: number): Rr | undefined {
    const first = rrs[0]!;
    const isDnskey = first.type === TYPE.DNSKEY;
    const key: ZoneKey | undefined = isDnskey ? keys.ksk : keys.zsk;
    if (key === undefined) return undefined;
    // Compiled RRsets by identity (the DNSKEY RRset by its key state's array), the rest by content.
    const identity: object | undefined = isDnskey
      ? keys.dnskey
      : this.zones.isCompiled(first)
        ? first
        : undefined;
    const cached =
      identity !== undefined
        ? this.cache.getByIdentity(identity, key, now)
        : this.cache.getByContent(first.owner, first.type, first.ttl, rrs, key, now);
    this.metrics?.dnssecCache(cached !== undefined);
    if (cached !== undefined) return cached;
    const t0 = performance.now();
    const window = this.cache.window(now, zone.dnssec!.settings);
    const rrsig = makeRrsig({
      owner: first.owner,
      type: first.type,
      ttl: first.ttl,
      rrs,
      signer: zone.name,
      key,
      inception: window.inception,
      expiration: window.expiration,
    });
    this.metrics?.dnssecSigned((performance.now() - t0) / 1000);
    if (identity !== undefined) this.cache.setByIdentity(identity, key, rrsig, window.refreshAt);
    else this.cache.setByContent(first.owner, first.type, first.ttl, rrs, key, rrsig, window.refreshAt);
    return rrsig;
  }
}

function replace(target: Rr[], records: readonly Rr[]): void {
  target.length = 0;
  for (const rr of records) target.push(rr);
}
