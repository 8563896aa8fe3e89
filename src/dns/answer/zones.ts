// Zone data compiled from the configuration: a map from every owner name (and every empty
// non-terminal) to its node, with the RRsets pre-encoded into RDATA parts. Lookups are one Map
// access for existing names. Pure.
import type { DeepReadonly } from '../../config/load.js';
import type {
  BalancedNameConfig,
  StaticRecordConfig,
  ZoneConfig,
  ZoneTransferConfig,
} from '../../config/dns-schema.js';
import { MeridianError } from '../../core/errors.js';
import { canonicalName, ownerName } from '../../core/dns-names.js';
import { ipToBytes } from '../../core/ip.js';
import { TYPE } from '../wire/constants.js';
import { characterStrings } from '../wire/encoder.js';
import type { RdataPart, Rr } from '../wire/encoder.js';
import { openZoneDnssec, type OpenSealed, type ZoneDnssec } from '../dnssec/zone-keys.js';

export interface RRset {
  readonly owner: string;
  readonly type: number;
  readonly ttl: number;
  readonly rrs: readonly Rr[];
  /** For NS/MX/SRV/CNAME: the target names (lower case), to find glue and chase CNAMEs. */
  readonly targets: readonly string[];
}

export interface ZoneNode {
  readonly name: string;
  readonly zone: Zone;
  readonly rrsets: Map<number, RRset>;
  /** Set on balanced names: answered through steering for A and AAAA. */
  balanced: DeepReadonly<BalancedNameConfig> | undefined;
  /** The topmost delegation point at or above this node (strictly below the apex), if any. */
  cut: ZoneNode | undefined;
  /** Whether the node has children (an empty non-terminal when it has no data). */
  hasChildren: boolean;
}

export interface Zone {
  readonly name: string;
  readonly apex: ZoneNode;
  readonly soa: RRset;
  /** RFC 2308: the SOA as sent in negative answers, TTL = min(SOA TTL, MINIMUM). */
  readonly negativeSoa: Rr;
  readonly ns: RRset;
  /** SOA serial (a change is what NOTIFY announces and IXFR diffs between). */
  readonly serial: number;
  /** Who may transfer the zone and whom to NOTIFY (src/dns/xfer). */
  readonly transfer: DeepReadonly<ZoneTransferConfig> | undefined;
  /** The zone's opened keys when it is signed (dnssec/), else undefined. */
  readonly dnssec: ZoneDnssec | undefined;
}

export interface ZoneSetOptions {
  /** Opens the sealed DNSSEC private keys (the node key ring); without it a signed zone does not compile. */
  readonly openSealed?: OpenSealed | undefined;
}

export type Lookup =
  /** Not in any of our zones. */
  | { readonly kind: 'refused' }
  /** Below a zone cut: refer to the child's name servers. */
  | { readonly kind: 'referral'; readonly zone: Zone; readonly cut: ZoneNode }
  | { readonly kind: 'nxdomain'; readonly zone: Zone }
  /** The node answering the name: exact, or a wildcard (`wildcard` true: owner is the qname). */
  | { readonly kind: 'node'; readonly zone: Zone; readonly node: ZoneNode; readonly wildcard: boolean };

const REFUSED: Lookup = Object.freeze({ kind: 'refused' });

const lower = canonicalName;

export { ownerName };

/**
 * Target names (NS, CNAME, MX, SRV, SOA fields) follow the same rule as owners, as in a zone file:
 * '@' is the apex, a trailing dot or the zone's own suffix makes a name absolute, anything else is
 * relative to the zone — so an out-of-zone target needs its trailing dot ("mail.example.net.").
 */
export function targetName(name: string, zone: string): string {
  return ownerName(name, zone);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function fail(field: string, message: string): MeridianError {
  return new MeridianError('E_CONFIG', `${field}: ${message}`, { field });
}

/** RDATA for one static value plus the target name it refers to, if any. */
function rdataFor(
  rec: DeepReadonly<StaticRecordConfig>,
  value: string,
  zone: string,
  field: string,
): { rdata: RdataPart[]; target?: string } {
  switch (rec.type) {
    case 'A':
    case 'AAAA': {
      const bytes = ipToBytes(value);
      if (bytes === undefined || bytes.length !== (rec.type === 'A' ? 4 : 16)) {
        throw fail(field, `expected an IPv${rec.type === 'A' ? 4 : 6} address, got ${JSON.stringify(value)}`);
      }
      return { rdata: [Buffer.from(bytes)] };
    }
    case 'CNAME':
    case 'NS':
    case 'PTR': {
      const target = targetName(value, zone);
      return { rdata: [{ name: target, compress: true }], target };
    }
    case 'MX': {
      const m = /^(\d{1,5})\s+(\S+)$/.exec(value.trim());
      if (m === null || Number(m[1]) > 65535)
        throw fail(field, `expected "PRIORITY NAME", got ${JSON.stringify(value)}`);
      const target = targetName(m[2]!, zone);
      return { rdata: [u16(Number(m[1])), { name: target, compress: true }], target };
    }
    case 'SRV': {
      const m = /^(\d{1,5})\s+(\d{1,5})\s+(\d{1,5})\s+(\S+)$/.exec(value.trim());
      if (m === null || [m[1], m[2], m[3]].some((x) => Number(x) > 65535)) {
        throw fail(field, `expected "PRIORITY WEIGHT PORT TARGET", got ${JSON.stringify(value)}`);
      }
      const target = targetName(m[4]!, zone);
      // RFC 2782: the SRV target is not compressed.
      return {
        rdata: [
          Buffer.concat([u16(Number(m[1])), u16(Number(m[2])), u16(Number(m[3]))]),
          { name: target, compress: false },
        ],
        target,
      };
    }
    case 'TXT': {
      const bytes = Buffer.from(value, 'utf8');
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += 255) chunks.push(bytes.subarray(i, i + 255));
      return { rdata: [characterStrings(chunks)] };
    }
    case 'CAA': {
      const m = /^(\d{1,3})\s+([A-Za-z0-9]+)\s+"?(.*?)"?$/.exec(value.trim());
      if (m === null || Number(m[1]) > 255)
        throw fail(field, `expected "FLAGS TAG VALUE", got ${JSON.stringify(value)}`);
      const tag = Buffer.from(m[2]!, 'ascii');
      return {
        rdata: [Buffer.concat([Buffer.from([Number(m[1]), tag.length]), tag, Buffer.from(m[3]!, 'utf8')])],
      };
    }
  }
}

export class ZoneSet {
  /** Every owner name and empty non-terminal of every zone. */
  private readonly nodes = new Map<string, ZoneNode>();
  /** Wildcard nodes (`*.parent`) by their parent's name, so a lookup builds no `*.` string. */
  private readonly wildcards = new Map<string, ZoneNode>();
  readonly zones: readonly Zone[];
  /** Zones by apex name. */
  private readonly byApex = new Map<string, Zone>();
  /** The compiled records of signed zones: their signatures are cached by identity (dnssec/signer.ts). */
  private readonly compiledRecords = new WeakSet<Rr>();
  private readonly openSealed: OpenSealed | undefined;

  constructor(configs: readonly DeepReadonly<ZoneConfig>[], options: ZoneSetOptions = {}) {
    this.openSealed = options.openSealed;
    const zones: Zone[] = [];
    const zoneNames = configs.map((z) => lower(z.name));
    if (new Set(zoneNames).size !== zoneNames.length) throw fail('dns.zones', 'a zone is configured twice');
    configs.forEach((zc, zi) => zones.push(this.addZone(zc, `dns.zones[${zi}]`)));
    this.zones = zones;
    for (const z of zones) this.byApex.set(z.name, z);
    this.finish();
  }

  private node(name: string, zone: Zone): ZoneNode {
    let n = this.nodes.get(name);
    if (n === undefined) {
      n = { name, zone, rrsets: new Map(), balanced: undefined, cut: undefined, hasChildren: false };
      this.nodes.set(name, n);
    }
    return n;
  }

  private addZone(zc: DeepReadonly<ZoneConfig>, field: string): Zone {
    const zname = lower(zc.name);
    const soaRdata: RdataPart[] = [
      { name: targetName(zc.soa.mname, zname), compress: true },
      { name: targetName(zc.soa.rname, zname), compress: true },
      Buffer.alloc(20),
    ];
    const fixed = soaRdata[2] as Buffer;
    fixed.writeUInt32BE(zc.soa.serial >>> 0, 0);
    fixed.writeUInt32BE(zc.soa.refresh >>> 0, 4);
    fixed.writeUInt32BE(zc.soa.retry >>> 0, 8);
    fixed.writeUInt32BE(zc.soa.expire >>> 0, 12);
    fixed.writeUInt32BE(zc.soa.minimum >>> 0, 16);
    const soaRr: Rr = { owner: zname, type: TYPE.SOA, ttl: zc.soa.ttl, rdata: soaRdata };
    const soa: RRset = { owner: zname, type: TYPE.SOA, ttl: zc.soa.ttl, rrs: [soaRr], targets: [] };
    const nsTargets = zc.ns.map((n) => targetName(n, zname));
    const ns: RRset = {
      owner: zname,
      type: TYPE.NS,
      ttl: zc.ttl,
      rrs: nsTargets.map((t) => ({
        owner: zname,
        type: TYPE.NS,
        ttl: zc.ttl,
        rdata: [{ name: t, compress: true }],
      })),
      targets: nsTargets,
    };
    const zone: Zone = {
      name: zname,
      get apex(): ZoneNode {
        return apex;
      },
      soa,
      negativeSoa: { ...soaRr, ttl: Math.min(zc.soa.ttl, zc.soa.minimum) },
      ns,
      serial: zc.soa.serial >>> 0,
      transfer: zc.transfer,
      dnssec: zc.dnssec === undefined ? undefined : openZoneDnssec(zname, zc.dnssec, this.openSealed),
    };
    if (this.nodes.has(zname)) throw fail(`${field}.name`, `${zname} is also a name in another zone`);
    const apex = this.node(zname, zone);
    apex.rrsets.set(TYPE.SOA, soa);
    apex.rrsets.set(TYPE.NS, ns);

    const inZone = (name: string, f: string): void => {
      if (name !== zname && !name.endsWith(`.${zname}`)) throw fail(f, `${name} is outside zone ${zname}`);
    };

    // Static records, grouped into RRsets.
    const pending = new Map<
      string,
      { rrs: Rr[]; targets: string[]; ttl: number; owner: string; type: number }
    >();
    zc.records.forEach((rec, ri) => {
      const f = `${field}.records[${ri}]`;
      const owner = ownerName(rec.name, zname);
      inZone(owner, `${f}.name`);
      const type = TYPE[rec.type];
      if (owner === zname && (type === TYPE.NS || type === TYPE.CNAME)) {
        throw fail(
          `${f}.type`,
          `${rec.type} at the zone apex: apex NS come from ${field}.ns; CNAME is not allowed there`,
        );
      }
      const key = `${owner}/${type}`;
      let set = pending.get(key);
      if (set === undefined) {
        set = { rrs: [], targets: [], ttl: rec.ttl ?? zc.ttl, owner, type };
        pending.set(key, set);
      }
      rec.values.forEach((v, vi) => {
        const { rdata, target } = rdataFor(rec, v, zname, `${f}.values[${vi}]`);
        // All RRs of an RRset share one TTL (RFC 2181 §5.2): the first record's TTL wins.
        set.rrs.push({ owner, type, ttl: set.ttl, rdata });
        if (target !== undefined) set.targets.push(target);
      });
    });
    for (const set of pending.values()) {
      const n = this.node(set.owner, zone);
      if (n.zone !== zone) throw fail(field, `${set.owner} belongs to zone ${n.zone.name}`);
      if (set.type === TYPE.CNAME && set.rrs.length > 1)
        throw fail(field, `${set.owner}: more than one CNAME`);
      n.rrsets.set(set.type, {
        owner: set.owner,
        type: set.type,
        ttl: set.ttl,
        rrs: set.rrs,
        targets: set.targets,
      });
    }

    zc.balanced.forEach((bc, bi) => {
      const f = `${field}.balanced[${bi}]`;
      const owner = ownerName(bc.name, zname);
      inZone(owner, `${f}.name`);
      const n = this.node(owner, zone);
      if (n.balanced !== undefined) throw fail(`${f}.name`, `${owner} is balanced twice`);
      n.balanced = bc;
    });
    return zone;
  }

  /** Adds empty non-terminals, checks CNAME exclusivity, marks delegations. */
  private finish(): void {
    for (const n of [...this.nodes.values()]) {
      const apex = n.zone.name;
      let name = n.name;
      while (name !== apex) {
        const dot = name.indexOf('.');
        name = name.slice(dot + 1);
        const parent = this.node(name, n.zone);
        if (parent.hasChildren) break;
        parent.hasChildren = true;
      }
    }
    for (const n of this.nodes.values()) {
      const cname = n.rrsets.has(TYPE.CNAME);
      if (cname && (n.rrsets.size > 1 || n.balanced !== undefined)) {
        throw fail('dns.zones', `${n.name}: a CNAME cannot coexist with other records or a balanced name`);
      }
      if (n.balanced !== undefined && (n.rrsets.has(TYPE.A) || n.rrsets.has(TYPE.AAAA))) {
        throw fail('dns.zones', `${n.name}: a balanced name cannot also have static A/AAAA records`);
      }
    }
    for (const n of this.nodes.values()) {
      if (n.zone.dnssec !== undefined) {
        for (const set of n.rrsets.values()) for (const rr of set.rrs) this.compiledRecords.add(rr);
        if (n === n.zone.apex) this.compiledRecords.add(n.zone.negativeSoa);
      }
      if (n.name === '*') this.wildcards.set('', n);
      else if (n.name.startsWith('*.')) this.wildcards.set(n.name.slice(2), n);
    }
    // Delegations: NS below the apex. Every node at or below a cut refers to the topmost cut.
    for (const n of this.nodes.values()) {
      if (n === n.zone.apex) continue;
      let name = n.name;
      let cut: ZoneNode | undefined;
      while (name !== n.zone.name) {
        const c = this.nodes.get(name);
        if (c !== undefined && c.rrsets.has(TYPE.NS)) cut = c;
        name = name.slice(name.indexOf('.') + 1);
      }
      n.cut = cut;
    }
  }

  /** Finds the zone and node for a lower-case name. */
  lookup(name: string): Lookup {
    const exact = this.nodes.get(name);
    if (exact !== undefined) {
      if (exact.cut !== undefined) return { kind: 'referral', zone: exact.zone, cut: exact.cut };
      return { kind: 'node', zone: exact.zone, node: exact, wildcard: false };
    }
    // Closest encloser: the longest existing ancestor.
    let rest = name;
    for (;;) {
      const dot = rest.indexOf('.');
      if (dot < 0) {
        const root = this.nodes.get('');
        if (root === undefined || rest === '') return REFUSED;
        rest = '';
      } else {
        rest = rest.slice(dot + 1);
      }
      const ce = this.nodes.get(rest);
      if (ce === undefined) {
        if (rest === '') return REFUSED;
        continue;
      }
      if (ce.cut !== undefined) return { kind: 'referral', zone: ce.zone, cut: ce.cut };
      const wild = this.wildcards.get(rest);
      if (wild !== undefined && wild.zone === ce.zone)
        return { kind: 'node', zone: ce.zone, node: wild, wildcard: true };
      return { kind: 'nxdomain', zone: ce.zone };
    }
  }

  /** The zone whose apex is `name` (lower case), if we serve it. */
  zoneAt(name: string): Zone | undefined {
    return this.byApex.get(name);
  }

  /** The zone `name` (lower case) is in: the one with the longest apex that is a suffix of it. */
  zoneOf(name: string): Zone | undefined {
    let rest = name;
    for (;;) {
      const zone = this.byApex.get(rest);
      if (zone !== undefined) return zone;
      if (rest === '') return undefined;
      const dot = rest.indexOf('.');
      rest = dot < 0 ? '' : rest.slice(dot + 1);
    }
  }

  /** Whether `rr` is one of a signed zone's compiled records (not a record built for one answer). */
  isCompiled(rr: Rr): boolean {
    return this.compiledRecords.has(rr);
  }

  /** The node of a name, without wildcard or delegation processing (for glue). */
  get(name: string): ZoneNode | undefined {
    return this.nodes.get(name);
  }

  /** Every node of `zone` (owners, empty non-terminals, balanced names), apex first: for transfers. */
  nodesOf(zone: Zone): ZoneNode[] {
    const out = [zone.apex];
    for (const n of this.nodes.values()) if (n.zone === zone && n !== zone.apex) out.push(n);
    return out;
  }

  /** Balanced names by presentation name (for `explain`). */
  balancedNode(name: string): Lookup {
    return this.lookup(lower(name));
  }
}
