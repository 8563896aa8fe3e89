// Step 3: which regions may answer at all. In order: the name's region list (when non-empty), the
// lifecycle state (`active` only), addresses of the query's family, then health — a region is down
// when its fresh reports say so or when every report has expired (a silent region); during the
// start-up grace period expired reports count with their last value; a region whose checks have not
// voted yet is `unknown` and served during that grace; a region nobody votes for is `unmonitored`
// and counts as the `unmonitored` policy says (down when `requireHealth` is set).
import type { RegionHealthView } from '../../core/health.js';
import { addressesOf, type MutableVerdict, type StepContext } from './context.js';

const nameLists = new WeakMap<object, ReadonlySet<string>>();

function nameRegionSet(list: readonly string[]): ReadonlySet<string> {
  let set = nameLists.get(list);
  if (set === undefined) {
    set = new Set(list);
    nameLists.set(list, set);
  }
  return set;
}

function seconds(ms: number): string {
  return `${Math.max(0, Math.round(ms / 1000))} s`;
}

/** Why a region is down, or undefined when its health lets it serve. */
export function healthReason(
  health: RegionHealthView,
  requireHealth: boolean,
  now: number,
  lastExpiry: number | undefined,
): string | undefined {
  switch (health.status) {
    case 'healthy':
    case 'stale':
    case 'unknown':
      return undefined;
    case 'unmonitored':
      if (requireHealth) return 'no health reports (requireHealth)';
      return health.up ? undefined : (health.reasons[0] ?? 'no votes');
    case 'unhealthy': {
      const down = health.votes.filter((v) => !v.up).length;
      return `unhealthy (${down} of ${health.votes.length} vantage point(s) say down, ${health.healthyBackends}/${health.totalBackends} backends healthy)`;
    }
    case 'expired':
      return lastExpiry === undefined ? 'health expired' : `health expired ${seconds(now - lastExpiry)} ago`;
  }
}

export function eligible(ctx: StepContext): void {
  const list = ctx.name.regions;
  const restrict = list.length > 0 ? nameRegionSet(list) : undefined;
  const family = ctx.family;
  for (const info of ctx.snap.regions) {
    const health = ctx.health.get(info.id);
    if (health === undefined) continue;
    const verdict: MutableVerdict = { info, health, kept: false, reason: '' };
    ctx.verdicts.push(verdict);
    ctx.verdictById.set(info.id, verdict);
    if (restrict !== undefined && !restrict.has(info.id)) {
      verdict.reason = "not in name's region list";
      continue;
    }
    if (info.state !== 'active') {
      verdict.reason = info.state;
      continue;
    }
    if (addressesOf(info, family).length === 0) {
      verdict.reason = family === 6 ? 'no IPv6 addresses' : 'no IPv4 addresses';
      continue;
    }
    ctx.pool.push(info);
    const down = healthReason(
      health,
      info.region.requireHealth,
      ctx.now,
      health.status === 'expired' ? lastExpiryOf(ctx, info.id) : undefined,
    );
    if (down !== undefined) {
      verdict.reason = down;
      continue;
    }
    verdict.reason =
      health.status === 'stale'
        ? 'eligible (stale health, start-up grace)'
        : health.status === 'unknown'
          ? 'eligible (unknown: checks have not voted yet, start-up grace)'
          : health.pending !== undefined
            ? `eligible (down at ${new Date(health.pending.at).toISOString()} unless a vote changes)`
            : 'eligible';
    ctx.eligible.push(info);
  }
}

function lastExpiryOf(ctx: StepContext, regionId: string): number | undefined {
  const reports = ctx.rawHealth.get(regionId);
  if (reports === undefined || reports.size === 0) return undefined;
  let last = -Infinity;
  for (const r of reports.values()) if (r.expiresAt > last) last = r.expiresAt;
  return last;
}
