// A signed zone's keys, opened when the zone is compiled: each private half unsealed with the node
// key ring (context `dnssec:<zone>:<role>:<tag>`) and checked against its DNSKEY public key and tag.
// Any failure throws E_DNSSEC_KEY naming the zone and the key tag, so a zone whose keys cannot be
// opened never serves (at start the tier refuses to start; on a change the previous zones keep
// serving). `at(now)` gives the keys' phase at an instant (core/dnssec-keys.ts), recomputed only when
// a key's timeline passes an instant.
import type { KeyObject } from 'node:crypto';
import type { DnssecAlgorithm, ZoneDnssecConfig } from '../../config/dnssec-schema.js';
import type { DeepReadonly } from '../../config/load.js';
import { keysAt } from '../../core/dnssec-keys.js';
import { MeridianError, describeError } from '../../core/errors.js';
import {
  DNSKEY_FLAGS_KSK,
  DNSKEY_FLAGS_ZSK,
  dnskeyRdata,
  keyTag,
  privateKeyContext,
  privateKeyFromPkcs8,
} from '../../infra/dnssec/keys.js';
import { isSealed } from '../../infra/secrets/key-ring.js';
import { TYPE } from '../wire/constants.js';
import type { Rr } from '../wire/encoder.js';

/** Opens a value sealed with the node key ring (KeyRing.open); throws when it cannot. */
export type OpenSealed = (sealed: string, context: string) => string;

export interface ZoneKey {
  readonly tag: number;
  readonly role: 'ksk' | 'zsk';
  readonly algorithm: DnssecAlgorithm;
  readonly privateKey: KeyObject;
  /** The key's DNSKEY record at the apex. */
  readonly dnskey: Rr;
  readonly publishAt: string;
  readonly activeAt: string;
  readonly retireAt?: string | undefined;
  readonly removeAt?: string | undefined;
}

/** The keys at an instant: the DNSKEY RRset and the key that signs for each role. */
export interface KeyState {
  /** The published keys' DNSKEY records (one RRset; the first record names it in caches). */
  readonly dnskey: readonly Rr[];
  /** Signs the DNSKEY RRset. */
  readonly ksk: ZoneKey | undefined;
  /** Signs everything else. */
  readonly zsk: ZoneKey | undefined;
  /** This state holds in [from, until). */
  readonly from: number;
  readonly until: number;
}

export class ZoneDnssec {
  private state: KeyState | undefined;
  /** Bumped whenever the state is recomputed for a new phase (the answer cache keys on it). */
  private changes = 0;

  constructor(
    readonly zone: string,
    readonly keys: readonly ZoneKey[],
    readonly settings: DeepReadonly<ZoneDnssecConfig>,
  ) {}

  /** The keys' state at `nowMs`. */
  at(nowMs: number): KeyState {
    const s = this.state;
    if (s !== undefined && nowMs >= s.from && nowMs < s.until) return s;
    const k = keysAt(this.keys, nowMs);
    const next: KeyState = {
      dnskey: k.published.map((key) => key.dnskey),
      ksk: k.ksk,
      zsk: k.zsk,
      from: nowMs,
      until: k.nextChangeMs,
    };
    if (s === undefined || s.ksk !== next.ksk || s.zsk !== next.zsk || !sameRecords(s.dnskey, next.dnskey))
      this.changes++;
    this.state = next;
    return next;
  }

  /** A number that changes whenever the signing keys or the DNSKEY RRset change. */
  epoch(nowMs: number): number {
    this.at(nowMs);
    return this.changes;
  }
}

function sameRecords(a: readonly Rr[], b: readonly Rr[]): boolean {
  return a.length === b.length && a.every((rr, i) => rr === b[i]);
}

/** Opens and checks a zone's keys (throws E_DNSSEC_KEY naming the zone and key tag). */
export function openZoneDnssec(
  zone: string,
  settings: DeepReadonly<ZoneDnssecConfig>,
  openSealed: OpenSealed | undefined,
): ZoneDnssec {
  const keys = settings.keys.map((key): ZoneKey => {
    const fail = (why: string): MeridianError =>
      new MeridianError('E_DNSSEC_KEY', `zone ${zone}, ${key.role} ${key.tag}: ${why}`, {
        field: `dns.zones[${zone}].dnssec.keys`,
      });
    const publicKey = Buffer.from(key.publicKey, 'base64');
    const flags = key.role === 'ksk' ? DNSKEY_FLAGS_KSK : DNSKEY_FLAGS_ZSK;
    const rdata = dnskeyRdata(flags, key.algorithm, publicKey);
    if (keyTag(rdata) !== key.tag)
      throw fail(`the stored tag does not match the public key (tag ${keyTag(rdata)})`);
    if (!isSealed(key.privateKey))
      throw fail('the private key is not sealed with the node key ring; a plain value is refused');
    if (openSealed === undefined)
      throw fail('the private key is sealed and this node has no key ring (secrets.keyFile, MERIDIAN_KEYS)');
    let privateKey: KeyObject;
    try {
      const pkcs8 = Buffer.from(
        openSealed(key.privateKey, privateKeyContext(zone, key.role, key.tag)),
        'base64',
      );
      privateKey = privateKeyFromPkcs8(pkcs8, key.algorithm, publicKey);
    } catch (err) {
      throw fail(describeError(err));
    }
    return {
      tag: key.tag,
      role: key.role,
      algorithm: key.algorithm,
      privateKey,
      dnskey: { owner: zone, type: TYPE.DNSKEY, ttl: settings.dnskeyTtl, rdata: [rdata] },
      publishAt: key.publishAt,
      activeAt: key.activeAt,
      retireAt: key.retireAt,
      removeAt: key.removeAt,
    };
  });
  return new ZoneDnssec(zone, keys, settings);
}
