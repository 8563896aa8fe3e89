// Step 4: operator overrides. CIDR rules first (most specific first), then the client's country, then
// its continent. The first matching rule that lists at least one eligible region restricts the
// candidates to its eligible regions, in the rule's order (an ordered failover list, like gdnsd's
// metafo). A matching rule whose regions are all ineligible is passed over, so the next rule, or the
// nearest-region step, still finds an answer.
import { cidrContains } from '../../core/ip.js';
import type { RegionInfo, StepContext } from './context.js';

function apply(ctx: StepContext, label: string, regions: readonly string[]): boolean {
  const eligibleIds = new Set<string>();
  for (const info of ctx.eligible) eligibleIds.add(info.id);
  const ordered: RegionInfo[] = [];
  for (const id of regions) {
    if (!eligibleIds.has(id)) continue;
    const info = ctx.snap.byId.get(id);
    if (info !== undefined && !ordered.includes(info)) ordered.push(info);
  }
  if (ordered.length === 0) {
    ctx.notes.push(`${label} matched but none of its regions is eligible`);
    return false;
  }
  const rank = new Map(ordered.map((info, i) => [info.id, i]));
  for (const info of ctx.eligible) {
    const verdict = ctx.verdictById.get(info.id);
    if (verdict === undefined) continue;
    const at = rank.get(info.id);
    verdict.reason = at === undefined ? `not in ${label}` : `${label} (#${at + 1})`;
  }
  ctx.ordered = ordered;
  ctx.rule = label.replace(/^override /, 'override:');
  return true;
}

export function overrides(ctx: StepContext): void {
  if (ctx.ordered !== undefined || ctx.eligible.length === 0) return;
  const bytes = ctx.clientBytes;
  if (bytes !== undefined) {
    const rules = bytes.length === 4 ? ctx.config.cidr4 : ctx.config.cidr6;
    for (const rule of rules) {
      if (!cidrContains(rule.cidr, bytes)) continue;
      if (apply(ctx, `override cidr ${rule.cidr.text}`, rule.regions)) {
        ctx.cidrMatch = rule;
        return;
      }
    }
  }
  const country = ctx.location.country;
  if (country !== undefined) {
    const regions = ctx.config.country.get(country);
    if (regions !== undefined && apply(ctx, `override country ${country}`, regions)) {
      ctx.locationDependent = true;
      return;
    }
  }
  const continent = ctx.location.continent;
  if (continent !== undefined) {
    const regions = ctx.config.continent.get(continent);
    if (regions !== undefined && apply(ctx, `override continent ${continent}`, regions)) {
      ctx.locationDependent = true;
    }
  }
}
