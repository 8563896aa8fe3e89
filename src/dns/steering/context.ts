// The state that flows through the steering chain for one query, and the per-snapshot data the
// steps read. Internal to src/dns/steering. Pure data.
import type { BalancedNameConfig, SteeringConfig } from '../../config/dns-schema.js';
import type { DeepReadonly } from '../../config/load.js';
import type { RegionHealthView } from '../../core/health.js';
import type { Cidr, IpFamily } from '../../core/ip.js';
import type { LifecycleState, Region, Snapshot } from '../../core/types.js';
import type { GeoResult } from '../geo/types.js';
import type { ClientFacts, ClientLocation, SteeringQuery } from './types.js';

/** A region as the steps need it, precomputed once per snapshot version. */
export interface RegionInfo {
  readonly region: Region;
  readonly id: string;
  /** hashString(id): the region's salt for rendezvous hashing. */
  readonly salt: number;
  readonly lat: number;
  readonly lon: number;
  readonly weight: number;
  readonly state: LifecycleState;
  readonly ipv4: readonly string[];
  readonly ipv6: readonly string[];
}

export interface CidrRule {
  readonly cidr: Cidr;
  readonly regions: readonly string[];
}

/** Per-engine (configuration) data: override rules parsed once. */
export interface PreparedConfig {
  readonly steering: DeepReadonly<SteeringConfig>;
  /** CIDR rules per family, most specific first (then by text, for determinism). */
  readonly cidr4: readonly CidrRule[];
  readonly cidr6: readonly CidrRule[];
  /**
   * Every override CIDR that can change an answer — the global ones plus every balanced name's own —
   * per family: a client inside one is never answered from the per-geo-record cache, and the ECS
   * scope never spans one's boundary.
   */
  readonly boundary4: readonly CidrRule[];
  readonly boundary6: readonly CidrRule[];
  readonly country: ReadonlyMap<string, readonly string[]>;
  readonly continent: ReadonlyMap<string, readonly string[]>;
  readonly defaultOrder: readonly string[];
}

/** Per-snapshot-version data. */
export interface PreparedSnapshot {
  readonly version: number;
  /** Every region, sorted by id. */
  readonly regions: readonly RegionInfo[];
  readonly byId: ReadonlyMap<string, RegionInfo>;
}

export interface MutableVerdict {
  readonly info: RegionInfo;
  health: RegionHealthView;
  distanceKm?: number;
  kept: boolean;
  reason: string;
}

export interface StepContext {
  readonly query: SteeringQuery;
  readonly name: DeepReadonly<BalancedNameConfig>;
  readonly family: IpFamily;
  readonly now: number;
  readonly config: PreparedConfig;
  readonly snap: PreparedSnapshot;
  /** Health per region id at `now`. */
  readonly health: ReadonlyMap<string, RegionHealthView>;
  /** The snapshot's raw reports (for reason texts such as "health expired 12 s ago"). */
  readonly rawHealth: Snapshot['health'];
  readonly graceUntil: number;

  /** The client's address facts (memoized by the engine) and which address kind they came from. */
  readonly client: ClientFacts;
  readonly source: ClientLocation['source'];

  // locate
  location: ClientLocation;
  geo: GeoResult | undefined;
  /** Bytes of the located address (ECS address or source address, unmapped), when it is an IP. */
  clientBytes: Uint8Array | undefined;

  // eligible
  /** One verdict per region of the snapshot, in region order. */
  readonly verdicts: MutableVerdict[];
  readonly verdictById: Map<string, MutableVerdict>;
  /** In the name's list, active, with addresses of the family: the all-down fallback set. */
  pool: RegionInfo[];
  /** `pool` minus regions that are down. */
  eligible: RegionInfo[];

  // overrides / nearest
  /** Candidates in preference order, once a step has ordered them. */
  ordered: RegionInfo[] | undefined;
  /** The CIDR override that matched, if any (its prefix feeds the ECS scope). */
  cidrMatch: CidrRule | undefined;
  /** Whether the order depended on where the client is. */
  locationDependent: boolean;
  rule: string;
  /** Remarks for `explain` (e.g. an override that matched but had no eligible region). */
  readonly notes: string[];

  // answer
  allDown: boolean;
  outcome: 'addresses' | 'nodata' | undefined;
  answerRegions: RegionInfo[];
  addresses: string[];
  /** ECS scope / key prefix, computed before ordering so weighted hashing uses the same network. */
  scopePrefix: number;
  /** Hash of the client network at `scopePrefix` and the name: drives weighted sharing. */
  networkHash: number;
  /** Hash of the name alone: the location-independent seed. */
  nameSalt: number;
  /**
   * Whether `networkHash` shaped the answer (a weighted band, a rotation of a region's addresses):
   * then the decision belongs to the client network, not to its geo record alone.
   */
  networkDependent: boolean;
}

/** One link of the chain. Steps read and write the context; none does I/O. */
export type Step = (ctx: StepContext) => void;

export const addressesOf = (info: RegionInfo, family: IpFamily): readonly string[] =>
  family === 4 ? info.ipv4 : info.ipv6;
