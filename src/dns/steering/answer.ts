// Step 7: build the answer. `answerRegions` regions from the ordered candidates, `addressesPerRegion`
// addresses from each (0 = all; when fewer are taken, the starting address rotates with the client
// network's hash so a region's addresses share the load). When no region is eligible the all-down
// policy applies: `fail-open` answers every active region with addresses of the family, in the
// location-independent default order; `fail-closed` answers NODATA. No region with addresses of the
// family at all → NODATA. The final ECS scope is set here (see scope.ts for the rule).
import { addressesOf, type RegionInfo, type StepContext } from './context.js';
import { mix32 } from './hash.js';
import { defaultOrder } from './nearest.js';

function pickAddresses(ctx: StepContext, regions: readonly RegionInfo[], hash: number): string[] {
  const per = ctx.name.addressesPerRegion;
  const out: string[] = [];
  for (const info of regions) {
    const all = addressesOf(info, ctx.family);
    if (per === 0 || per >= all.length) {
      for (const a of all) out.push(a);
      continue;
    }
    if (hash !== ctx.nameSalt) ctx.networkDependent = true;
    const start = mix32(hash ^ info.salt) % all.length;
    for (let i = 0; i < per; i++) {
      const a = all[(start + i) % all.length];
      if (a !== undefined) out.push(a);
    }
  }
  return out;
}

function finish(ctx: StepContext, regions: RegionInfo[], scopePrefix: number): void {
  ctx.answerRegions = regions;
  ctx.outcome = regions.length > 0 ? 'addresses' : 'nodata';
  ctx.scopePrefix = ctx.outcome === 'nodata' ? 0 : scopePrefix;
  // With the scope forced to 0 the rotation must not depend on the client either.
  const hash = ctx.scopePrefix === 0 ? ctx.nameSalt : ctx.networkHash;
  ctx.addresses = ctx.outcome === 'nodata' ? [] : pickAddresses(ctx, regions, hash);
  const chosen = new Set(regions.map((r) => r.id));
  for (const verdict of ctx.verdicts) verdict.kept = chosen.has(verdict.info.id);
}

export function answer(ctx: StepContext): void {
  if (ctx.pool.length === 0) {
    ctx.rule = ctx.family === 6 ? 'no-ipv6-region' : 'no-ipv4-region';
    finish(ctx, [], 0);
    return;
  }
  if (ctx.eligible.length === 0) {
    ctx.allDown = true;
    if (ctx.name.allDown === 'fail-closed') {
      ctx.rule = 'all-down:fail-closed';
      finish(ctx, [], 0);
      return;
    }
    ctx.rule = 'all-down:fail-open';
    const regions = defaultOrder(ctx.pool, ctx.config.defaultOrder);
    for (const info of regions) {
      const verdict = ctx.verdictById.get(info.id);
      if (verdict !== undefined) verdict.reason = `${verdict.reason}; answered anyway (all down, fail-open)`;
    }
    finish(ctx, regions, 0);
    return;
  }
  const ordered = ctx.ordered ?? ctx.eligible;
  const take = ordered.slice(0, ctx.name.answerRegions);
  // Scope 0 when the answer cannot depend on where the client is: a single candidate for the name,
  // or an unlocated client answered in the default order with no CIDR override involved (the scope
  // step already found K = 0 then unless an override CIDR lies close to the client's address).
  const scope = ctx.eligible.length === 1 ? 0 : ctx.scopePrefix;
  finish(ctx, take, scope);
  const limit = ctx.name.answerRegions;
  ordered.forEach((info, i) => {
    if (i < limit) return;
    const verdict = ctx.verdictById.get(info.id);
    if (verdict !== undefined && !verdict.reason.startsWith('outside')) {
      verdict.reason = `${verdict.reason}; not needed (answerRegions ${limit})`;
    }
  });
}
