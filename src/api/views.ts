// Read models served by the admin API, computed from one snapshot. Pure: no I/O, the clock is
// passed in.
import { evaluateRegionHealth, type RegionHealthPolicy, type RegionHealthView } from '../core/health.js';

/** The quorum rule per region (config `dns.steering.health`); undefined: instant majority. */
export type HealthPolicyOf = (regionId: string) => RegionHealthPolicy | undefined;
const NO_POLICY: HealthPolicyOf = () => undefined;
import type { Backend, HealthReport, LifecycleState, Region, Snapshot } from '../core/types.js';

export interface BackendCounts {
  readonly total: number;
  readonly active: number;
  readonly draining: number;
  readonly disabled: number;
}

export interface RegionDetail {
  readonly region: Region;
  readonly health: RegionHealthView;
  readonly backends: BackendCounts;
}

export interface ReportView extends HealthReport {
  readonly fresh: boolean;
  readonly ageMs: number;
}

export interface BackendHealthView {
  readonly backendId: string;
  readonly url?: string;
  readonly state?: LifecycleState;
  /** `true`/`false` from the fresh reports that mention the backend; `null` when none does. */
  readonly healthy: boolean | null;
  readonly healthyVotes: number;
  readonly reporters: number;
  /** Why reporters see the backend down, one entry per reporter that gave a reason. */
  readonly reasons: readonly { readonly reporterId: string; readonly reason: string }[];
}

export interface RegionHealthDetail {
  readonly regionId: string;
  readonly now: number;
  readonly view: RegionHealthView;
  readonly reports: readonly ReportView[];
  readonly backends: readonly BackendHealthView[];
}

export interface StatusEntry {
  readonly id: string;
  readonly name: string;
  readonly state: LifecycleState;
  readonly weight: number;
  readonly capacity?: number;
  readonly health: RegionHealthView;
  readonly backends: BackendCounts & {
    /** Healthy backends as reported by the region's proxies; `null` when no fresh report says. */
    readonly healthy: number | null;
  };
  readonly inFlight: number;
}

export function countBackends(backends: ReadonlyMap<string, Backend> | undefined): BackendCounts {
  const counts = { total: 0, active: 0, draining: 0, disabled: 0 };
  for (const b of backends?.values() ?? []) {
    counts.total++;
    counts[b.state]++;
  }
  return counts;
}

export function regionDetail(
  snapshot: Snapshot,
  region: Region,
  now: number,
  graceUntil: number,
  policy: HealthPolicyOf = NO_POLICY,
): RegionDetail {
  return {
    region,
    health: evaluateRegionHealth(snapshot.health.get(region.id), now, graceUntil, policy(region.id)),
    backends: countBackends(snapshot.backends.get(region.id)),
  };
}

export function regionHealthDetail(
  snapshot: Snapshot,
  regionId: string,
  now: number,
  graceUntil: number,
  policy: HealthPolicyOf = NO_POLICY,
): RegionHealthDetail {
  const reports = snapshot.health.get(regionId);
  const view = evaluateRegionHealth(reports, now, graceUntil, policy(regionId));
  const list = [...(reports?.values() ?? [])].sort((a, b) => a.reporterId.localeCompare(b.reporterId));
  const fresh = list.filter((r) => r.expiresAt > now);
  const registered = snapshot.backends.get(regionId) ?? new Map<string, Backend>();

  const ids = new Set<string>(registered.keys());
  for (const r of fresh) for (const b of r.backends ?? []) ids.add(b.backendId);
  const backends = [...ids].sort().map((backendId): BackendHealthView => {
    let votes = 0;
    let reporters = 0;
    const reasons: { reporterId: string; reason: string }[] = [];
    for (const r of fresh) {
      const seen = r.backends?.find((b) => b.backendId === backendId);
      if (seen === undefined) continue;
      reporters++;
      if (seen.healthy) votes++;
      if (seen.reason !== undefined) reasons.push({ reporterId: r.reporterId, reason: seen.reason });
    }
    const backend = registered.get(backendId);
    return {
      backendId,
      ...(backend === undefined ? {} : { url: backend.url, state: backend.state }),
      healthy: reporters === 0 ? null : votes * 2 >= reporters,
      healthyVotes: votes,
      reporters,
      reasons,
    };
  });

  return {
    regionId,
    now,
    view,
    reports: list.map((r) => ({ ...r, fresh: r.expiresAt > now, ageMs: Math.max(0, now - r.reportedAt) })),
    backends,
  };
}

export function statusView(
  snapshot: Snapshot,
  now: number,
  graceUntil: number,
  policy: HealthPolicyOf = NO_POLICY,
): StatusEntry[] {
  return [...snapshot.regions.values()]
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((region) => {
      const health = evaluateRegionHealth(snapshot.health.get(region.id), now, graceUntil, policy(region.id));
      const counts = countBackends(snapshot.backends.get(region.id));
      const reported =
        health.status === 'healthy' || health.status === 'unhealthy' || health.status === 'stale';
      return {
        id: region.id,
        name: region.name,
        state: region.state,
        weight: region.weight,
        ...(region.capacity === undefined ? {} : { capacity: region.capacity }),
        health,
        backends: {
          ...counts,
          healthy: reported ? health.healthyBackends : health.status === 'expired' ? 0 : null,
        },
        inFlight: health.inFlight,
      };
    });
}
