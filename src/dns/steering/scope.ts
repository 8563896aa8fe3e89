// Step 2: the ECS scope (RFC 7871 SCOPE PREFIX-LENGTH) — the widest network around the client over
// which this answer stays the same — and the hash of that network used for weighted sharing.
//
// The rule:
//   K = max( g,                                   the geo database network's prefix (0 if not located)
//            c  for every override CIDR C that contains the client,
//            d(C)+1 for every override CIDR C that does not contain the client but shares d(C) >= g
//                   leading bits with it (C lies inside the client's geo network: clients on the
//                   other side of it answer differently, so the scope must stop short of C) )
// Within the client's /K network the geo record and the set of matching CIDR overrides are the same
// for every address, so the answer is too; K never exceeds the family's maximum. K is the key of
// weighted sharing, so a resolver caching the answer for /K sees exactly what every client of /K gets.
// The answer step then lowers the scope to 0 where the answer does not depend on location at all:
// the client was not located and no CIDR override was involved (default order), only one candidate
// region existed for the name, all candidates were down (all-down answers are location-independent),
// or the outcome is NODATA.
import type { IpFamily } from '../../core/ip.js';
import type { GeoResult } from '../geo/types.js';
import type { PreparedConfig, StepContext } from './context.js';
import { hashNetwork, hashString } from './hash.js';

/** Number of leading bits `a` and `b` share, at most `max`. */
export function commonPrefixBits(a: Uint8Array, b: Uint8Array, max: number): number {
  let bits = 0;
  for (let i = 0; i < a.length && bits < max; i++) {
    const x = (a[i] ?? 0) ^ (b[i] ?? 0);
    if (x === 0) {
      bits += 8;
      continue;
    }
    bits += Math.clz32(x) - 24;
    break;
  }
  return Math.min(bits, max);
}

const nameSalts = new Map<string, number>();

function nameSalt(name: string): number {
  let salt = nameSalts.get(name);
  if (salt === undefined) {
    if (nameSalts.size > 10000) nameSalts.clear();
    salt = hashString(name.toLowerCase());
    nameSalts.set(name, salt);
  }
  return salt;
}

/** K for a client address (rule above), before the answer step's location-independence rules. */
export function scopeOf(bytes: Uint8Array, geo: GeoResult | undefined, config: PreparedConfig): number {
  const family: IpFamily = bytes.length === 4 ? 4 : 6;
  const max = family === 4 ? 32 : 128;
  const g = geo?.prefixLength ?? 0;
  let k = g;
  const rules = family === 4 ? config.boundary4 : config.boundary6;
  for (const rule of rules) {
    const c = rule.cidr.prefix;
    const d = commonPrefixBits(bytes, rule.cidr.bytes, c);
    if (d >= c) {
      if (c > k) k = c;
    } else if (d >= g && d + 1 > k) {
      k = d + 1;
    }
  }
  return Math.min(k, max);
}

/** The step: the scope itself comes with the client's facts; this hashes the client network for the name. */
export function scope(ctx: StepContext): void {
  ctx.nameSalt = nameSalt(ctx.name.name);
  const bytes = ctx.clientBytes;
  ctx.networkHash = bytes === undefined ? ctx.nameSalt : hashNetwork(bytes, ctx.scopePrefix, ctx.nameSalt);
}
