// Step 5: order the candidates by great-circle distance from the client. Regions within
// `distanceBandKm` of the nearest one form a band that shares traffic by weight (weighted rendezvous
// hashing of the client network, see hash.ts); the rest follow by distance. A client without
// coordinates but with a country or continent (geo data that places a network only that far) goes to
// the regions registered in its country (`region add --country`), else on its continent
// (`--continent`), by weight, then the rest in the default order. A client without any of these gets
// the configured `defaultOrder` (then the remaining regions by weight), or weight order when no
// default order is configured.
import { greatCircleKm } from '../../core/geometry.js';
import type { RegionInfo, StepContext } from './context.js';
import { rendezvousKey } from './hash.js';

const km = (d: number): string => `${Math.round(d)} km`;

function byWeight(a: RegionInfo, b: RegionInfo): number {
  return b.weight - a.weight || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** The location-independent order: `defaultOrder` first, then by weight (then id). */
export function defaultOrder(regions: readonly RegionInfo[], order: readonly string[]): RegionInfo[] {
  const out: RegionInfo[] = [];
  for (const id of order) {
    const info = regions.find((r) => r.id === id);
    if (info !== undefined && !out.includes(info)) out.push(info);
  }
  const rest = regions.filter((r) => !out.includes(r)).sort(byWeight);
  return out.concat(rest);
}

/** A client placed only by country or continent: the regions registered there first. */
function sameCountryOrContinent(ctx: StepContext): boolean {
  const { country, continent } = ctx.location;
  for (const [what, code] of [
    ['country', country],
    ['continent', continent],
  ] as const) {
    if (code === undefined) continue;
    const local = ctx.eligible.filter((info) => info.region[what] === code).sort(byWeight);
    if (local.length === 0) continue;
    const rest = defaultOrder(
      ctx.eligible.filter((info) => !local.includes(info)),
      ctx.config.defaultOrder,
    );
    ctx.ordered = local.concat(rest);
    ctx.rule = `same-${what}`;
    ctx.locationDependent = true;
    ctx.ordered.forEach((info, i) => {
      const verdict = ctx.verdictById.get(info.id);
      if (verdict === undefined) return;
      verdict.reason =
        i < local.length
          ? `registered in the client's ${what} ${code} (client has no coordinates)`
          : `default order #${i + 1 - local.length} (not in ${what} ${code})`;
    });
    return true;
  }
  return false;
}

export function nearest(ctx: StepContext): void {
  const lat = ctx.location.lat;
  const lon = ctx.location.lon;
  if (lat !== undefined && lon !== undefined) {
    for (const verdict of ctx.verdicts)
      verdict.distanceKm = greatCircleKm(lat, lon, verdict.info.lat, verdict.info.lon);
  }
  if (ctx.ordered !== undefined || ctx.eligible.length === 0) return;

  if (lat === undefined || lon === undefined) {
    if (sameCountryOrContinent(ctx)) return;
    const configured = ctx.config.defaultOrder;
    ctx.ordered = defaultOrder(ctx.eligible, configured);
    ctx.rule = configured.length > 0 ? 'default-order' : 'weight-order';
    const what = ctx.location.found ? 'client has no coordinates' : 'client not located';
    ctx.ordered.forEach((info, i) => {
      const verdict = ctx.verdictById.get(info.id);
      if (verdict !== undefined) {
        verdict.reason = `${ctx.rule === 'default-order' ? 'default order' : 'weight order'} #${i + 1} (${what})`;
      }
    });
    return;
  }

  const withDistance = ctx.eligible.map((info) => ({
    info,
    distance: ctx.verdictById.get(info.id)?.distanceKm ?? greatCircleKm(lat, lon, info.lat, info.lon),
  }));
  withDistance.sort((a, b) => a.distance - b.distance || (a.info.id < b.info.id ? -1 : 1));
  const first = withDistance[0];
  if (first === undefined) return;
  const nearestKm = first.distance;
  const limit = nearestKm + ctx.config.steering.distanceBandKm;
  const band = withDistance.filter((c) => c.distance <= limit);
  const outside = withDistance.filter((c) => c.distance > limit);
  if (band.length > 1) {
    ctx.networkDependent = true;
    const keyed = band.map((c) => ({
      ...c,
      key: rendezvousKey(ctx.networkHash, c.info.salt, c.info.weight),
    }));
    keyed.sort((a, b) => b.key - a.key || a.distance - b.distance || (a.info.id < b.info.id ? -1 : 1));
    band.splice(0, band.length, ...keyed);
  }
  ctx.ordered = band.concat(outside).map((c) => c.info);
  ctx.rule = band.length > 1 ? 'nearest:weighted-band' : 'nearest';
  ctx.locationDependent = true;
  for (const c of band) {
    const verdict = ctx.verdictById.get(c.info.id);
    if (verdict === undefined) continue;
    const delta = c.distance - nearestKm;
    if (band.length === 1) verdict.reason = `nearest (${km(c.distance)})`;
    else if (c.info === first.info)
      verdict.reason = `nearest (${km(c.distance)}), shares its band by weight ${c.info.weight}`;
    else verdict.reason = `within distance band (+${km(delta)}, ${km(c.distance)}), weight ${c.info.weight}`;
  }
  for (const c of outside) {
    const verdict = ctx.verdictById.get(c.info.id);
    if (verdict !== undefined) verdict.reason = `outside distance band (+${km(c.distance - nearestKm)})`;
  }
}
