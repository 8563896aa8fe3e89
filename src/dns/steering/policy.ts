// Step 5: the balanced name's policy, when no override ordered the candidates.
//   nearest   nothing here: the next step orders by distance (today's behaviour, the default)
//   failover  the name's `regions` in their order, healthy ones only: the first healthy one answers
//   fixed     the name's `regions` in their order whatever their health reports say (active ones
//             with addresses of the family): a pinned answer, e.g. during a migration
//   weighted  every eligible region, shared by weight (the name's `weights`, else the region's
//             own) by weighted rendezvous hashing of the client network (at least its /24, or
//             /56 for IPv6, also for clients the geo data does not place), so one network keeps
//             its region and the shares follow the weights over many networks
// failover and fixed do not depend on where the client is: the ECS scope then only keeps override
// CIDR boundaries (a client near one still gets a scope that does not span it).
import { hashNetwork, rendezvousKey } from './hash.js';
import type { RegionInfo, StepContext } from './context.js';
import { scopeOf } from './scope.js';

function inListOrder(ctx: StepContext, from: readonly RegionInfo[]): RegionInfo[] {
  const out: RegionInfo[] = [];
  for (const id of ctx.name.regions) {
    const info = from.find((r) => r.id === id);
    if (info !== undefined && !out.includes(info)) out.push(info);
  }
  return out;
}

/** Location-independent: keep only what override CIDRs near the client force on the scope. */
function dropLocationScope(ctx: StepContext): void {
  const bytes = ctx.clientBytes;
  ctx.scopePrefix = bytes === undefined ? 0 : scopeOf(bytes, undefined, ctx.config);
  ctx.networkHash = bytes === undefined ? ctx.nameSalt : hashNetwork(bytes, ctx.scopePrefix, ctx.nameSalt);
}

export function policy(ctx: StepContext): void {
  const kind = ctx.name.policy;
  if (kind === 'nearest' || ctx.ordered !== undefined) return;
  if (kind === 'weighted') {
    if (ctx.eligible.length === 0) return;
    const bytes = ctx.clientBytes;
    if (bytes !== undefined) {
      ctx.scopePrefix = Math.max(ctx.scopePrefix, bytes.length === 4 ? 24 : 56);
      ctx.networkHash = hashNetwork(bytes, ctx.scopePrefix, ctx.nameSalt);
    }
    const weightOf = (info: RegionInfo): number => ctx.name.weights[info.id] ?? info.weight;
    const keyed = ctx.eligible.map((info) => ({
      info,
      key: rendezvousKey(ctx.networkHash, info.salt, weightOf(info)),
    }));
    keyed.sort((a, b) => b.key - a.key || (a.info.id < b.info.id ? -1 : 1));
    ctx.ordered = keyed.map((k) => k.info);
    ctx.rule = 'policy:weighted';
    ctx.networkDependent = ctx.eligible.length > 1;
    ctx.ordered.forEach((info, i) => {
      const verdict = ctx.verdictById.get(info.id);
      if (verdict !== undefined) verdict.reason = `weighted #${i + 1} (weight ${weightOf(info)})`;
    });
    return;
  }
  if (kind === 'fixed') {
    // Health does not matter: the listed regions answer as long as they are active with addresses.
    const pinned = inListOrder(ctx, ctx.pool);
    ctx.eligible = pinned;
    ctx.ordered = pinned;
  } else {
    ctx.ordered = inListOrder(ctx, ctx.eligible);
  }
  ctx.rule = `policy:${kind}`;
  dropLocationScope(ctx);
  ctx.ordered.forEach((info, i) => {
    const verdict = ctx.verdictById.get(info.id);
    if (verdict !== undefined)
      verdict.reason = `${kind} #${i + 1}${kind === 'fixed' ? ' (health ignored)' : ''}`;
  });
}
