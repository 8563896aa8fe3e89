// Step 1: where is the client? The ECS address when the query carried one with a non-zero source
// prefix (RFC 7871: /0 means the client opted out), else the packet's source address. IPv4-mapped
// IPv6 addresses are unmapped first.
//
// `locateClient` does the work and depends only on the address, the locator and the override
// configuration, so the engine memoizes its result per address string; the step itself only copies
// the facts into the context.
import { ipFamily, ipToBytes, unmapIPv4 } from '../../core/ip.js';
import type { GeoLocator } from '../geo/types.js';
import type { ClientFacts, ClientLocation, SteeringQuery } from './types.js';
import type { PreparedConfig, StepContext } from './context.js';
import { scopeOf } from './scope.js';

/** `::ffff:a.b.c.d` or `::ffff:c000:201` → `a.b.c.d`; anything else unchanged (zone ids dropped). */
export function unmapAddress(address: string): string {
  let text = address;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  return unmapIPv4(text);
}

/** The address a query is located by, as sent (before unmapping). */
export function queryAddress(query: SteeringQuery): { address: string; source: ClientLocation['source'] } {
  const ecs = query.ecs;
  return ecs !== undefined && ecs.sourcePrefix > 0
    ? { address: ecs.address, source: 'ecs' }
    : { address: query.sourceIp, source: 'source-address' };
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
  address: string,
  locator: GeoLocator | undefined,
  config: PreparedConfig,
): ClientFacts {
  const ip = unmapAddress(address);
  const bytes = ipFamily(ip) === undefined ? undefined : ipToBytes(ip);
  const geo = bytes === undefined ? undefined : locator?.lookup(ip);
  const scopePrefix = bytes === undefined ? 0 : scopeOf(bytes, geo, config);
  const key =
    (bytes === undefined ? '-' : `${scopePrefix}/${networkKey(bytes, scopePrefix)}`) +
    (geo === undefined
      ? '|-'
      : `|${geo.prefixLength}|${geo.country ?? ''}|${geo.continent ?? ''}|${geo.lat ?? ''},${geo.lon ?? ''}`);
  return { ip, bytes, geo, scopePrefix, key };
}

/** The ClientLocation of a client for one source kind (memoized on the facts object). */
export function locationOf(facts: ClientFacts, source: ClientLocation['source']): ClientLocation {
  const cached = source === 'ecs' ? facts.ecsLocation : facts.sourceLocation;
  if (cached !== undefined) return cached;
  const geo = facts.geo;
  const location: ClientLocation = Object.freeze(
    geo === undefined
      ? { ip: facts.ip, source, found: false }
      : geo.country === undefined && geo.lat === undefined
        ? { ip: facts.ip, source, found: false, network: geo.network, prefixLength: geo.prefixLength }
        : {
            ip: facts.ip,
            source,
            found: true,
            ...(geo.country === undefined ? {} : { country: geo.country }),
            ...(geo.continent === undefined ? {} : { continent: geo.continent }),
            ...(geo.lat === undefined || geo.lon === undefined ? {} : { lat: geo.lat, lon: geo.lon }),
            network: geo.network,
            prefixLength: geo.prefixLength,
          },
  );
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
