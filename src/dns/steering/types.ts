// The contract between the DNS tier and region selection. Everything here is pure data.
import type { BalancedNameConfig } from '../../config/dns-schema.js';
import type { RegionHealthView } from '../../core/health.js';
import type { LifecycleState } from '../../core/types.js';
import type { DeepReadonly } from '../../config/load.js';
import type { GeoResult } from '../geo/types.js';

/** An EDNS Client Subnet as text (for `explain`). */
export interface ClientSubnet {
  readonly family: 4 | 6;
  /** The address with bits past `sourcePrefix` zero. */
  readonly address: string;
  readonly sourcePrefix: number;
}

/** An EDNS Client Subnet as the query path carries it. */
export interface QuerySubnet {
  /** 4 or 16 bytes (IPv4-mapped IPv6 given as its 4 bytes), zero past `sourcePrefix`. */
  readonly address: Uint8Array;
  readonly sourcePrefix: number;
}

export interface SteeringQuery {
  readonly name: DeepReadonly<BalancedNameConfig>;
  /** 4 for A, 6 for AAAA. */
  readonly family: 4 | 6;
  /** The packet's source address: 4 or 16 bytes (anything else is never located). */
  readonly source: Uint8Array;
  /** The EDNS Client Subnet, when the query carried a valid one. */
  readonly ecs?: QuerySubnet;
  /** ms epoch; passed in so decisions are reproducible in tests. */
  readonly now: number;
}

export interface ClientLocation {
  /** The address that was located (ECS address or source address), as text. */
  readonly ip: string;
  readonly source: 'ecs' | 'source-address';
  readonly found: boolean;
  readonly country?: string | undefined;
  readonly continent?: string | undefined;
  readonly lat?: number | undefined;
  readonly lon?: number | undefined;
  readonly network?: string | undefined;
  readonly prefixLength?: number | undefined;
}

export interface RegionVerdict {
  readonly regionId: string;
  readonly state: LifecycleState;
  readonly weight: number;
  readonly health: RegionHealthView;
  readonly distanceKm?: number;
  readonly kept: boolean;
  /** Why the region was kept or dropped, e.g. "nearest (412 km)", "draining", "health expired". */
  readonly reason: string;
}

export interface Decision {
  /** `addresses`: answer with them; `nodata`: NOERROR with no answer (fail-closed or no AAAA). */
  readonly outcome: 'addresses' | 'nodata';
  /** Chosen regions in answer order. */
  readonly regions: readonly string[];
  readonly addresses: readonly string[];
  readonly ttl: number;
  /** ECS SCOPE PREFIX-LENGTH for this answer (0 when it did not depend on location). */
  readonly scopePrefix: number;
  /** True when every eligible region was down and the all-down policy applied. */
  readonly allDown: boolean;
  readonly location: ClientLocation;
  readonly considered: readonly RegionVerdict[];
  /** Which step decided: "override:cidr 192.0.2.0/24", "override:country DE", "nearest", "default-order", ... */
  readonly rule: string;
}

/**
 * What a DNS reply needs of a decision (the hot path's view): shared between every client whose
 * decision answers the same. The ECS scope comes beside it (it is the client's own).
 */
export interface SteeredAnswer {
  readonly outcome: 'addresses' | 'nodata';
  readonly addresses: readonly string[];
  readonly ttl: number;
  /** The scope was forced to 0: the answer does not depend on where the client is. */
  readonly locationIndependent: boolean;
  /** The first region answered (for the answers metric). */
  readonly region: string | undefined;
  /** The client's country (for the answers metric). */
  readonly country: string | undefined;
}

/** Everything about a client address that does not depend on the query name, family or time. */
export interface ClientFacts {
  /** The located address (unmapped, 4 or 16 bytes); undefined when it was not an IP address. */
  readonly bytes: Uint8Array | undefined;
  readonly geo: GeoResult | undefined;
  /** ECS scope before the answer step's location-independence rules (see scope.ts). */
  readonly scopePrefix: number;
  /** Whether a CIDR override contains the address (then the decision is not the record's alone). */
  readonly inCidrRule: boolean;
  /** The ClientLocation for each source kind, built on first use. */
  ecsLocation?: ClientLocation;
  sourceLocation?: ClientLocation;
}
