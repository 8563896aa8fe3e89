// Step 4: operator overrides — first the balanced name's own (`overrides` in its config), then the
// global `dns.steering.overrides`. In each: CIDR rules first (most specific first), then the
// client's country, then its continent. The first matching rule that lists at least one eligible region restricts the
// candidates to its eligible regions, in the rule's order (an ordered failover list, like gdnsd's
// metafo). A matching rule whose regions are all ineligible is passed over, so the next rule, or the
// nearest-region step, still finds an answer.
import type { SteeringOverridesConfig } from '../../config/dns-schema.js';
import type { DeepReadonly } from '../../config/load.js';
import { cidrContains, parseCidr } from '../../core/ip.js';
import type { CidrRule, RegionInfo, StepContext } from './context.js';

/** One set of override rules, parsed: CIDRs per family most specific first, codes upper case. */
interface RuleSet {
  readonly cidr4: readonly CidrRule[];
  readonly cidr6: readonly CidrRule[];
  readonly country: ReadonlyMap<string, readonly string[]>;
  readonly continent: ReadonlyMap<string, readonly string[]>;
}

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

function applyRules(ctx: StepContext, rules: RuleSet, scopeLabel: string): boolean {
  const bytes = ctx.clientBytes;
  if (bytes !== undefined) {
    for (const rule of bytes.length === 4 ? rules.cidr4 : rules.cidr6) {
      if (!cidrContains(rule.cidr, bytes)) continue;
      if (apply(ctx, `override ${scopeLabel}cidr ${rule.cidr.text}`, rule.regions)) {
        ctx.cidrMatch = rule;
        return true;
      }
    }
  }
  const country = ctx.location.country;
  if (country !== undefined) {
    const regions = rules.country.get(country);
    if (regions !== undefined && apply(ctx, `override ${scopeLabel}country ${country}`, regions)) {
      ctx.locationDependent = true;
      return true;
    }
  }
  const continent = ctx.location.continent;
  if (continent !== undefined) {
    const regions = rules.continent.get(continent);
    if (regions !== undefined && apply(ctx, `override ${scopeLabel}continent ${continent}`, regions)) {
      ctx.locationDependent = true;
      return true;
    }
  }
  return false;
}

export function overrides(ctx: StepContext): void {
  if (ctx.ordered !== undefined || ctx.eligible.length === 0) return;
  applyRules(ctx, ctx.config, '');
}

const parsedNameRules = new WeakMap<object, RuleSet>();

function nameRules(config: DeepReadonly<SteeringOverridesConfig>): RuleSet {
  let rules = parsedNameRules.get(config);
  if (rules === undefined) {
    const cidr4: CidrRule[] = [];
    const cidr6: CidrRule[] = [];
    for (const [text, regions] of Object.entries(config.cidr)) {
      const cidr = parseCidr(text);
      if (cidr !== undefined) (cidr.family === 4 ? cidr4 : cidr6).push({ cidr, regions });
    }
    const specific = (a: CidrRule, b: CidrRule): number =>
      b.cidr.prefix - a.cidr.prefix || (a.cidr.text < b.cidr.text ? -1 : 1);
    cidr4.sort(specific);
    cidr6.sort(specific);
    const continent = new Map<string, readonly string[]>();
    for (const [code, regions] of Object.entries(config.continent))
      if (regions !== undefined) continent.set(code, regions);
    rules = { cidr4, cidr6, country: new Map(Object.entries(config.country)), continent };
    parsedNameRules.set(config, rules);
  }
  return rules;
}

/** The balanced name's own overrides, before the global ones (labelled `override:name …`). */
export function nameOverrides(ctx: StepContext): void {
  const own = ctx.name.overrides;
  if (own === undefined || ctx.ordered !== undefined || ctx.eligible.length === 0) return;
  applyRules(ctx, nameRules(own), 'name ');
}
