// Step 1: where is the client? The ECS address when the query carried one with a non-zero source
// prefix (RFC 7871: /0 means the client opted out), else the packet's source address. IPv4-mapped
// IPv6 addresses are unmapped first.
//
// `locateClient` does the work (a tree walk over the geo file, no decoding once a record was seen)
// and depends only on the address, the locator and the override configuration; the step itself
// only copies the facts into the context. Addresses are bytes throughout; text only when a location
// is read out (explain, logs).
import { cidrContains } from '../../core/ip.js';
import type { GeoLocator, GeoResult } from '../geo/types.js';
import { addressText, unmapBytes } from '../wire/address.js';
import type { ClientFacts, ClientLocation, SteeringQuery } from './types.js';
import type { PreparedConfig, StepContext } from './context.js';
import { scopeOf } from './scope.js';

/** The address a query is located by (bytes, before unmapping) and which kind it is. */
export function queryAddress(query: SteeringQuery): {
  address: Uint8Array;
  source: ClientLocation['source'];
} {
  const ecs = query.ecs;
  return ecs !== undefined && ecs.sourcePrefix > 0
    ? { address: ecs.address, source: 'ecs' }
    : { address: query.source, source: 'source-address' };
}

/** The network part of a cache key: the address masked to `prefix`, compactly. */
function networkKey(bytes: Uint8Array, prefix: number): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 4) {
    let word = 0;
    for (let j = 0; j < 4; j++) {
      const keep = Math.max(0, Math.min(8, prefix - (i + j) * 8));
      word = (word << 8) | ((bytes[i + j] ?? 0) & ((0xff << (8 - keep)) & 0xff));
    }
    out += (word >>> 0).toString(36) + '.';
  }
  return out;
}

export function locateClient(
  address: Uint8Array,
  locator: GeoLocator | undefined,
  config: PreparedConfig,
): ClientFacts {
  const unmapped = unmapBytes(address);
  const bytes = unmapped.length === 4 || unmapped.length === 16 ? unmapped : undefined;
  const geo = bytes === undefined ? undefined : locator?.lookupBytes(bytes);
  const scopePrefix = bytes === undefined ? 0 : scopeOf(bytes, geo, config);
  const inCidrRule = bytes !== undefined && insideAnyRule(bytes, config);
  return { bytes, geo, scopePrefix, inCidrRule };
}

function insideAnyRule(bytes: Uint8Array, config: PreparedConfig): boolean {
  for (const rule of bytes.length === 4 ? config.boundary4 : config.boundary6)
    if (cidrContains(rule.cidr, bytes)) return true;
  return false;
}

/** Decision-cache key of a client: its network at the decision's scope plus the geo facts. */
export function networkCacheKey(facts: ClientFacts): string {
  const { bytes, geo, scopePrefix } = facts;
  return (
    (bytes === undefined ? '-' : `${scopePrefix}/${networkKey(bytes, scopePrefix)}`) +
    (geo === undefined
      ? '|-'
      : `|${geo.prefixLength}|${geo.country ?? ''}|${geo.continent ?? ''}|${geo.lat ?? ''},${geo.lon ?? ''}`)
  );
}

/**
 * Where a client was found. The address and network texts are made only when read (explain, logs),
 * never on the answer path; JSON shows the plain object.
 */
class Location implements ClientLocation {
  readonly found: boolean;
  readonly country?: string | undefined;
  readonly continent?: string | undefined;
  readonly lat?: number | undefined;
  readonly lon?: number | undefined;
  readonly prefixLength?: number | undefined;

  constructor(
    private readonly bytes: Uint8Array | undefined,
    readonly source: ClientLocation['source'],
    private readonly geo: GeoResult | undefined,
  ) {
    this.found = geo !== undefined && (geo.country !== undefined || geo.lat !== undefined);
    if (geo !== undefined) {
      this.prefixLength = geo.prefixLength;
      if (this.found) {
        this.country = geo.country;
        this.continent = geo.continent;
        if (geo.lat !== undefined && geo.lon !== undefined) {
          this.lat = geo.lat;
          this.lon = geo.lon;
        }
      }
    }
    Object.freeze(this);
  }

  get ip(): string {
    return this.bytes === undefined ? '' : addressText(this.bytes);
  }

  get network(): string | undefined {
    return this.geo?.network;
  }

  toJSON(): ClientLocation {
    const { geo } = this;
    return {
      ip: this.ip,
      source: this.source,
      found: this.found,
      ...(this.country === undefined ? {} : { country: this.country }),
      ...(this.continent === undefined ? {} : { continent: this.continent }),
      ...(this.lat === undefined || this.lon === undefined ? {} : { lat: this.lat, lon: this.lon }),
      ...(geo === undefined ? {} : { network: geo.network, prefixLength: geo.prefixLength }),
    };
  }
}

/** The ClientLocation of a client for one source kind (memoized on the facts object). */
export function locationOf(facts: ClientFacts, source: ClientLocation['source']): ClientLocation {
  const cached = source === 'ecs' ? facts.ecsLocation : facts.sourceLocation;
  if (cached !== undefined) return cached;
  const location = new Location(facts.bytes, source, facts.geo);
  if (source === 'ecs') facts.ecsLocation = location;
  else facts.sourceLocation = location;
  return location;
}

/** The step: copies the client's facts (looked up by the engine) into the context. */
export function locate(ctx: StepContext): void {
  const facts = ctx.client;
  ctx.location = locationOf(facts, ctx.source);
  ctx.geo = facts.geo;
  ctx.clientBytes = facts.bytes;
  ctx.scopePrefix = facts.scopePrefix;
}
