// IXFR's change history (RFC 1995): per zone, the differences between successive compiled versions
// (by serial), kept in memory and bounded. Only zones without balanced names keep one: a balanced
// name transfers as the steering answer of the moment, which a serial does not pin down, so a diff
// could not say what a secondary holds — those zones always answer IXFR in AXFR form. Pure.
import type { Rr } from '../wire/encoder.js';
import { TYPE } from '../wire/constants.js';
import type { Zone, ZoneSet } from '../answer/zones.js';

/** One change: the records removed and added going from one serial to the next. */
export interface ZoneDiff {
  readonly fromSoa: Rr;
  readonly toSoa: Rr;
  readonly fromSerial: number;
  readonly toSerial: number;
  readonly deleted: readonly Rr[];
  readonly added: readonly Rr[];
}

export interface HistoryLimits {
  /** Diffs kept per zone (the oldest dropped first). */
  readonly diffs: number;
  /** Records (deleted + added) kept per zone over all its diffs. */
  readonly records: number;
}

const DEFAULT_LIMITS: HistoryLimits = { diffs: 32, records: 100_000 };

/** A record's identity for diffs: owner, type, TTL and RDATA (names as text). */
function rrKey(rr: Rr): string {
  const parts = rr.rdata.map((p) => (Buffer.isBuffer(p) ? p.toString('hex') : `<${p.name}>`));
  return `${rr.owner}|${rr.type}|${rr.ttl}|${parts.join(',')}`;
}

/** Every record of the zone but the SOA, or undefined when the zone has balanced names. */
function staticRecords(zones: ZoneSet, zone: Zone): Map<string, Rr> | undefined {
  const out = new Map<string, Rr>();
  for (const node of zones.nodesOf(zone)) {
    if (node.balanced !== undefined) return undefined;
    for (const [type, set] of node.rrsets) {
      if (type === TYPE.SOA) continue;
      for (const rr of set.rrs) out.set(rrKey(rr), rr);
    }
  }
  return out;
}

export class ZoneHistory {
  private readonly byZone = new Map<string, ZoneDiff[]>();

  constructor(private readonly limits: HistoryLimits = DEFAULT_LIMITS) {}

  /** Records the diffs from `previous` to `next` for every zone whose serial changed. */
  record(previous: ZoneSet, next: ZoneSet): void {
    for (const zone of next.zones) {
      const before = previous.zones.find((z) => z.name === zone.name);
      if (before === undefined || before.serial === zone.serial) continue;
      const oldRecords = staticRecords(previous, before);
      const newRecords = staticRecords(next, zone);
      if (oldRecords === undefined || newRecords === undefined) {
        this.byZone.delete(zone.name);
        continue;
      }
      const deleted = [...oldRecords].filter(([k]) => !newRecords.has(k)).map(([, rr]) => rr);
      const added = [...newRecords].filter(([k]) => !oldRecords.has(k)).map(([, rr]) => rr);
      const diffs = this.byZone.get(zone.name) ?? [];
      diffs.push({
        fromSoa: before.soa.rrs[0]!,
        toSoa: zone.soa.rrs[0]!,
        fromSerial: before.serial,
        toSerial: zone.serial,
        deleted,
        added,
      });
      let total = diffs.reduce((n, d) => n + d.deleted.length + d.added.length, 0);
      while (diffs.length > 0 && (diffs.length > this.limits.diffs || total > this.limits.records)) {
        const dropped = diffs.shift()!;
        total -= dropped.deleted.length + dropped.added.length;
      }
      this.byZone.set(zone.name, diffs);
    }
  }

  /**
   * The unbroken chain of diffs from `fromSerial` to `currentSerial`, or undefined when the history
   * does not reach back to it (the caller then sends the whole zone).
   */
  since(zone: string, fromSerial: number, currentSerial: number): readonly ZoneDiff[] | undefined {
    const diffs = this.byZone.get(zone);
    if (diffs === undefined) return undefined;
    const start = diffs.findIndex((d) => d.fromSerial === fromSerial);
    if (start < 0) return undefined;
    const chain = diffs.slice(start);
    for (let i = 1; i < chain.length; i++)
      if (chain[i]!.fromSerial !== chain[i - 1]!.toSerial) return undefined;
    if (chain.at(-1)!.toSerial !== currentSerial) return undefined;
    return chain;
  }
}
