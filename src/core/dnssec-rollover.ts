// The timeline of a zone's DNSSEC keys: enabling signing (a KSK and a ZSK), a pre-publish ZSK
// rollover (RFC 6781 §4.1.1.1, RFC 7583 §3.2) timed so that no validating resolver ever holds a
// signature whose key it cannot find, and a view of every key's phase and the next events. Pure:
// the caller passes the instant (`nowMs`) and the keys, already generated and sealed.
//
// Rollover timing, for a change made at T (every answering server has it by T + propagation):
//   new ZSK   publishAt = T
//             activeAt  = T + dnskeyTtl + propagation   (every cached DNSKEY RRset now holds it)
//   old ZSK   retireAt  = the new key's activeAt          (exactly one ZSK signs at every instant)
//             removeAt  = retireAt + maxTtl + propagation (every RRset it signed has left the caches)
// where maxTtl is the largest TTL of any RRset the zone signs (maxSignedTtl).
import { MeridianError, invalid } from './errors.js';
import { keyPhase, keysAt, type KeyPhase, type KeyTimeline } from './dnssec-keys.js';

/** The signing settings stored beside the keys (config/dnssec-schema.ts has their meaning and bounds). */
export interface DnssecSettings {
  readonly dnskeyTtl: number;
  readonly signatureValidityDays: number;
  readonly refreshDays: number;
  readonly inceptionOffsetSeconds: number;
  readonly propagationSeconds: number;
}

export const DEFAULT_DNSSEC_SETTINGS: DnssecSettings = {
  dnskeyTtl: 3600,
  signatureValidityDays: 14,
  refreshDays: 7,
  inceptionOffsetSeconds: 3600,
  propagationSeconds: 300,
};

/** A stored zone key (config/dnssec-schema.ts `keys[]`), as this module reads and writes it. */
export interface ZoneKey extends KeyTimeline {
  readonly algorithm: 13 | 15;
  /** DNSKEY public key field, base64. */
  readonly publicKey: string;
  /** PKCS#8 DER, base64, sealed with the node key ring; this module never opens it. */
  readonly privateKey: string;
}

/** A key made for a role but not yet placed on the timeline. */
export type NewZoneKey = Omit<ZoneKey, 'role' | 'publishAt' | 'activeAt' | 'retireAt' | 'removeAt'>;

/** A zone's `dnssec` block. */
export interface DnssecBlock extends DnssecSettings {
  readonly keys: readonly ZoneKey[];
}

/** The TTL fields of a zone (config/dns-schema.ts) that decide how long its answers are cached. */
export interface ZoneTtls {
  /** Default TTL: static records without their own, and the apex NS RRset. */
  readonly ttl: number;
  readonly soa: { readonly ttl: number; readonly minimum: number };
  readonly records: readonly { readonly ttl?: number | undefined }[];
  readonly balanced: readonly { readonly ttl: number }[];
  readonly dnssec?: { readonly dnskeyTtl: number } | undefined;
}

/** E_CONFLICT (409): the request is well formed, the zone's keys are not in a state to take it. */
const refused = (message: string): MeridianError => new MeridianError('E_CONFLICT', message);

const iso = (ms: number): string => new Date(ms).toISOString();
const ms = (instant: string | undefined): number =>
  instant === undefined ? Number.POSITIVE_INFINITY : Date.parse(instant);

/**
 * The largest TTL of any RRset the zone signs, i.e. how long a signature can live in a resolver's
 * cache: static records (own TTL or the zone's), balanced names, the SOA, the apex NS (the zone
 * TTL), negative answers (RFC 2308: min(SOA TTL, SOA minimum), their NSEC/SOA signatures) and the
 * DNSKEY RRset. Glue is counted too although it is not signed: a larger wait is never unsafe.
 */
export function maxSignedTtl(zone: ZoneTtls, dnskeyTtl = zone.dnssec?.dnskeyTtl): number {
  let max = Math.max(zone.ttl, zone.soa.ttl, Math.min(zone.soa.ttl, zone.soa.minimum));
  for (const r of zone.records) max = Math.max(max, r.ttl ?? zone.ttl);
  for (const b of zone.balanced) max = Math.max(max, b.ttl);
  if (dnskeyTtl !== undefined) max = Math.max(max, dnskeyTtl);
  return max;
}

/**
 * The first `dnssec` block of a zone: a KSK and a ZSK, both published and signing at once. That is
 * safe because the zone stays insecure (validators ignore its signatures) until the parent holds
 * its DS, which the operator adds only after `dsSafeAtMs`.
 */
export function planEnable(
  zoneName: string,
  settings: Partial<DnssecSettings>,
  newKeys: { readonly ksk: NewZoneKey; readonly zsk: NewZoneKey },
  nowMs: number,
): DnssecBlock {
  if (newKeys.ksk.tag === newKeys.zsk.tag)
    throw refused(`zone ${zoneName}: the new KSK and ZSK share key tag ${newKeys.ksk.tag}`);
  const now = iso(nowMs);
  return {
    ...DEFAULT_DNSSEC_SETTINGS,
    ...settings,
    keys: [
      { ...newKeys.ksk, role: 'ksk', publishAt: now, activeAt: now },
      { ...newKeys.zsk, role: 'zsk', publishAt: now, activeAt: now },
    ],
  };
}

/**
 * When the DS may be given to the parent: once every server answers with the signed zone and no
 * cache still holds an unsigned answer (or a "no DNSKEY" answer) from before signing began, a
 * validator that learns the DS meanwhile would call those answers bogus.
 */
export function dsSafeAtMs(zone: ZoneTtls, block: DnssecBlock): number {
  const signedSince = Math.min(...block.keys.filter((k) => k.role === 'ksk').map((k) => ms(k.activeAt)));
  return signedSince + (maxSignedTtl(zone, block.dnskeyTtl) + block.propagationSeconds) * 1000;
}

/** The keys still on the timeline at `nowMs` (a key past its removeAt is dropped on the next change). */
export function pruneRemovedKeys<K extends KeyTimeline>(keys: readonly K[], nowMs: number): K[] {
  return keys.filter((k) => keyPhase(k, nowMs) !== 'removed');
}

/**
 * Whether a key change is still under way at `nowMs`: some key is waiting to be published or to
 * sign, or is retired but still published. A new rollover then would stack timelines that no
 * resolver-safe schedule covers, so it is refused until this returns undefined.
 */
export function unfinishedChange(keys: readonly KeyTimeline[], nowMs: number): KeyTimeline | undefined {
  return keys.find((k) => {
    const phase = keyPhase(k, nowMs);
    return phase !== 'active' && phase !== 'removed';
  });
}

/** When the change under way ends: the last future event of any key (undefined when none). */
export function changeFinishesAtMs(keys: readonly KeyTimeline[], nowMs: number): number | undefined {
  let last: number | undefined;
  for (const k of keys)
    for (const t of [k.publishAt, k.activeAt, k.retireAt, k.removeAt].map(ms))
      if (Number.isFinite(t) && t > nowMs && (last === undefined || t > last)) last = t;
  return last;
}

/**
 * The keys with every pending removal pushed back as far as the zone's TTLs now need: a change that
 * raises the largest signed TTL during a rollover (a record's TTL, the SOA's) lets answers signed by
 * the retiring key stay cached longer, so that key must stay published longer. Removals never move
 * earlier, and a key already past its removeAt is left alone (pruneRemovedKeys drops it).
 */
export function keepRemovalsSafe<K extends KeyTimeline>(
  zone: ZoneTtls,
  block: { readonly keys: readonly K[]; readonly dnskeyTtl: number; readonly propagationSeconds: number },
  nowMs: number,
): K[] {
  const waitMs = (maxSignedTtl(zone, block.dnskeyTtl) + block.propagationSeconds) * 1000;
  return block.keys.map((k) => {
    if (k.retireAt === undefined || k.removeAt === undefined || nowMs >= ms(k.removeAt)) return k;
    const neededMs = ms(k.retireAt) + waitMs;
    return neededMs > ms(k.removeAt) ? { ...k, removeAt: iso(neededMs) } : k;
  });
}

export interface ZskRollover {
  /** The block after the rollover (removed keys pruned). */
  readonly dnssec: DnssecBlock;
  readonly oldZsk: ZoneKey;
  readonly newZsk: ZoneKey;
  /** The TTL the old key's removal waits for (maxSignedTtl). */
  readonly maxTtl: number;
}

/**
 * A pre-publish ZSK rollover starting at `nowMs`: the new key is published now and signs once every
 * cached DNSKEY RRset holds it; the old key stops signing at that instant and leaves the DNSKEY
 * RRset once every RRset it signed has expired from the caches. E_CONFLICT while a previous change
 * is unfinished or when the zone has no signing ZSK; the KSK is untouched.
 */
export function planZskRollover(
  zone: ZoneTtls & { readonly name: string },
  dnssec: DnssecBlock,
  newZsk: NewZoneKey,
  nowMs: number,
): ZskRollover {
  const keys = pruneRemovedKeys(dnssec.keys, nowMs);
  const busy = unfinishedChange(keys, nowMs);
  if (busy !== undefined) {
    const until = changeFinishesAtMs(keys, nowMs);
    throw refused(
      `zone ${zone.name}: a key change is still under way (${busy.role} ${busy.tag} is ${keyPhase(busy, nowMs)})` +
        (until === undefined ? '' : ` until ${iso(until)}`) +
        '; a new rollover can start after that',
    );
  }
  const current = keysAt(keys, nowMs).zsk;
  if (current === undefined) throw refused(`zone ${zone.name}: no ZSK is signing now, nothing to roll over`);
  if (keys.some((k) => k.tag === newZsk.tag))
    throw refused(`zone ${zone.name}: key tag ${newZsk.tag} is already in use`);
  if (newZsk.algorithm !== current.algorithm)
    throw invalid('algorithm', 'a rollover keeps the algorithm (an algorithm rollover is not supported)');

  const maxTtl = maxSignedTtl(zone, dnssec.dnskeyTtl);
  const activeAtMs = nowMs + (dnssec.dnskeyTtl + dnssec.propagationSeconds) * 1000;
  const removeAtMs = activeAtMs + (maxTtl + dnssec.propagationSeconds) * 1000;
  const oldZsk: ZoneKey = { ...current, retireAt: iso(activeAtMs), removeAt: iso(removeAtMs) };
  const next: ZoneKey = { ...newZsk, role: 'zsk', publishAt: iso(nowMs), activeAt: iso(activeAtMs) };
  return {
    dnssec: { ...dnssec, keys: [...keys.map((k) => (k === current ? oldZsk : k)), next] },
    oldZsk,
    newZsk: next,
    maxTtl,
  };
}

export type KeyEventKind = 'publish' | 'activate' | 'retire' | 'remove';

export interface KeyEvent {
  readonly at: string;
  readonly role: 'ksk' | 'zsk';
  readonly tag: number;
  readonly event: KeyEventKind;
}

export interface DnssecTimeline<K extends KeyTimeline> {
  readonly keys: readonly { readonly key: K; readonly phase: KeyPhase }[];
  /** Tags of the keys in the DNSKEY RRset now. */
  readonly published: readonly number[];
  /** The tag of the key that signs for each role now. */
  readonly signing: { readonly ksk: number | undefined; readonly zsk: number | undefined };
  /** Every event after `nowMs`, in order. */
  readonly events: readonly KeyEvent[];
  /** Whether a rollover (or another key change) is under way. */
  readonly changeUnderway: boolean;
}

/** Where every key stands at `nowMs` and what happens next. */
export function rolloverTimeline<K extends KeyTimeline>(
  keys: readonly K[],
  nowMs: number,
): DnssecTimeline<K> {
  const now = keysAt(keys, nowMs);
  const events: (KeyEvent & { readonly ms: number })[] = [];
  for (const k of keys) {
    const steps: [string | undefined, KeyEventKind][] = [
      [k.publishAt, 'publish'],
      [k.activeAt, 'activate'],
      [k.retireAt, 'retire'],
      [k.removeAt, 'remove'],
    ];
    for (const [instant, event] of steps) {
      const t = ms(instant);
      if (Number.isFinite(t) && t > nowMs)
        events.push({ at: iso(t), ms: t, role: k.role, tag: k.tag, event });
    }
  }
  // Simultaneous events (a handover) read in timeline order: the new key signs as the old one retires.
  const order: readonly KeyEventKind[] = ['publish', 'activate', 'retire', 'remove'];
  events.sort((a, b) => a.ms - b.ms || order.indexOf(a.event) - order.indexOf(b.event));
  return {
    keys: keys.map((key) => ({ key, phase: keyPhase(key, nowMs) })),
    published: now.published.map((k) => k.tag),
    signing: { ksk: now.ksk?.tag, zsk: now.zsk?.tag },
    events: events.map(({ ms: _ms, ...e }) => e),
    changeUnderway: unfinishedChange(keys, nowMs) !== undefined,
  };
}

/** E_VALIDATION for a KSK rollover request: it needs the parent's DS to change, not done here yet. */
export function kskRolloverUnsupported(): MeridianError {
  return invalid(
    'ksk',
    'a KSK rollover is not supported yet: it needs a new DS at the parent beside the old one (double-DS) ' +
      'and both KSKs signing the DNSKEY RRset; roll the ZSK instead (without --ksk)',
  );
}
