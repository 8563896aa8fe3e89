// Zone resolution: a question's name and type against the in-memory zones → records in an Answer.
// Referrals (with glue), NXDOMAIN/NODATA with the negative SOA, CNAME chains (at most 8 links),
// wildcards (records renamed to the query name), ANY per RFC 8482, the DNSKEY RRset of a signed
// zone. A/AAAA of a balanced name are handed to the steer step. Signing comes after (dnssec/signer.ts).
import type { Zone, ZoneNode, ZoneSet } from './zones.js';
import type { Answer } from './encode.js';
import type { Steerer } from './steer.js';
import type { ClientAddress } from './steer.js';
import { RCODE, TYPE } from '../wire/constants.js';
import { characterStrings } from '../wire/encoder.js';
import type { Rr } from '../wire/encoder.js';
import type { EcsOption } from '../wire/reader.js';

const MAX_CNAME_CHAIN = 8;
const RFC8482_HINFO = characterStrings([Buffer.from('RFC8482'), Buffer.alloc(0)]);

export class ZoneResolver {
  constructor(
    private readonly zones: ZoneSet,
    private readonly steerer: Steerer,
    private readonly now: () => number = Date.now,
  ) {}

  /** Adds to `ans` what the zones say about `name`/`qtype`; `depth` counts CNAME links followed. */
  resolve(
    ans: Answer,
    name: string,
    qtype: number,
    depth: number,
    client: ClientAddress,
    ecs: EcsOption | undefined,
  ): void {
    const lk = this.zones.lookup(name);
    switch (lk.kind) {
      case 'refused':
        if (depth === 0) {
          ans.rcode = RCODE.REFUSED;
          ans.aa = false;
        }
        return;
      case 'nxdomain':
        ans.rcode = RCODE.NXDOMAIN;
        ans.authority.push(lk.zone.negativeSoa);
        return;
      case 'referral': {
        const cut = lk.cut;
        if (qtype === TYPE.DS && cut.name === name) {
          // DS belongs to the parent side of the cut: we are authoritative for it (and have none).
          ans.authority.push(lk.zone.negativeSoa);
          return;
        }
        if (depth === 0) ans.aa = false;
        const ns = cut.rrsets.get(TYPE.NS);
        if (ns !== undefined) {
          for (const rr of ns.rrs) ans.authority.push(rr);
          this.addGlue(ans, ns.targets);
        }
        return;
      }
      case 'node':
        this.answerNode(
          ans,
          lk.zone,
          lk.node,
          lk.wildcard ? name : undefined,
          name,
          qtype,
          depth,
          client,
          ecs,
        );
        return;
    }
  }

  private answerNode(
    ans: Answer,
    zone: Zone,
    node: ZoneNode,
    synthesizedOwner: string | undefined,
    name: string,
    qtype: number,
    depth: number,
    client: ClientAddress,
    ecs: EcsOption | undefined,
  ): void {
    const cname = node.rrsets.get(TYPE.CNAME);
    if (cname !== undefined && qtype !== TYPE.CNAME) {
      for (const rr of cname.rrs) ans.answers.push(ownedBy(rr, synthesizedOwner));
      const target = cname.targets[0];
      if (target !== undefined && depth < MAX_CNAME_CHAIN && target !== name) {
        this.resolve(ans, target, qtype, depth + 1, client, ecs);
      }
      return;
    }
    if (qtype === TYPE.ANY) {
      // RFC 8482: one RRset, never the whole node.
      const first = node.rrsets.get(TYPE.SOA) ?? node.rrsets.values().next().value;
      if (first !== undefined) {
        for (const rr of first.rrs) ans.answers.push(ownedBy(rr, synthesizedOwner));
      } else if (node.balanced !== undefined || node.hasChildren) {
        ans.answers.push({
          owner: name,
          type: TYPE.HINFO,
          ttl: zone.negativeSoa.ttl,
          rdata: [RFC8482_HINFO],
        });
      }
      if (ans.answers.length === 0) ans.authority.push(zone.negativeSoa);
      return;
    }
    if (node.balanced !== undefined && (qtype === TYPE.A || qtype === TYPE.AAAA)) {
      this.steerer.steer(ans, zone, node.balanced, name, qtype, client, ecs);
      return;
    }
    const set = node.rrsets.get(qtype);
    if (set === undefined) {
      // A signed zone's DNSKEY RRset: the keys published now (it changes with the keys' timeline).
      if (qtype === TYPE.DNSKEY && zone.dnssec !== undefined && node === zone.apex) {
        for (const rr of zone.dnssec.at(this.now()).dnskey) ans.answers.push(rr);
        return;
      }
      ans.authority.push(zone.negativeSoa);
      return;
    }
    for (const rr of set.rrs) ans.answers.push(ownedBy(rr, synthesizedOwner));
    if (qtype === TYPE.NS) this.addGlue(ans, set.targets);
  }

  /** A/AAAA of in-bailiwick name servers, for NS answers and referrals. */
  private addGlue(ans: Answer, targets: readonly string[]): void {
    for (const t of targets) {
      const n = this.zones.get(t);
      if (n === undefined) continue;
      const a = n.rrsets.get(TYPE.A);
      const aaaa = n.rrsets.get(TYPE.AAAA);
      if (a !== undefined) for (const rr of a.rrs) ans.additional.push(rr);
      if (aaaa !== undefined) for (const rr of aaaa.rrs) ans.additional.push(rr);
    }
  }
}

/** A record as answered: renamed to the query name when a wildcard synthesized it. */
function ownedBy(rr: Rr, synthesizedOwner: string | undefined): Rr {
  return synthesizedOwner === undefined ? rr : { ...rr, owner: synthesizedOwner };
}
