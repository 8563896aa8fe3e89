// Turns the last known health reports of a region into one verdict. Pure; evaluated against a
// clock so that an expired report turns a silent region down without any notification.
import type { HealthReport } from './types.js';

export type RegionHealthStatus =
  /** At least half of the fresh reports see a healthy backend. */
  | 'healthy'
  /** Fresh reports exist and most see no healthy backend. */
  | 'unhealthy'
  /** Every report has expired: the region went silent, so it counts as down. */
  | 'expired'
  /** Expired reports, but this node is still inside its start-up grace period: last known value used. */
  | 'stale'
  /** No proxy ever reported for the region. */
  | 'unmonitored';

export interface RegionHealthView {
  readonly status: RegionHealthStatus;
  /** Whether the verdict lets the region serve (for `unmonitored`, the caller decides). */
  readonly up: boolean;
  readonly reporters: number;
  readonly freshReporters: number;
  readonly healthyBackends: number;
  readonly totalBackends: number;
  /** In-flight requests summed over the reporters used. */
  readonly inFlight: number;
  readonly requestRate: number;
  readonly p95LatencyMs: number;
  readonly lastReportAt?: number;
}

const UNMONITORED: RegionHealthView = Object.freeze({
  status: 'unmonitored',
  up: true,
  reporters: 0,
  freshReporters: 0,
  healthyBackends: 0,
  totalBackends: 0,
  inFlight: 0,
  requestRate: 0,
  p95LatencyMs: 0,
});

/** `node-1/w2` → `node-1`: the workers of one proxy node share one vote. */
export function reporterNode(reporterId: string): string {
  const m = /^(.*)\/w\d+$/.exec(reporterId);
  return m?.[1] ?? reporterId;
}

/**
 * Each proxy node gets one vote (healthy when at least half of its workers see a healthy backend),
 * so a node running many workers does not outvote a node running one; the region is up when at
 * least half of the nodes vote healthy.
 */
function majorityOfNodesHealthy(reports: readonly HealthReport[]): boolean {
  const perNode = new Map<string, { healthy: number; total: number }>();
  for (const r of reports) {
    const node = reporterNode(r.reporterId);
    const tally = perNode.get(node) ?? { healthy: 0, total: 0 };
    tally.total++;
    if (r.healthyBackends > 0) tally.healthy++;
    perNode.set(node, tally);
  }
  let healthyNodes = 0;
  for (const t of perNode.values()) if (t.healthy * 2 >= t.total) healthyNodes++;
  return healthyNodes * 2 >= perNode.size;
}

/**
 * @param graceUntil until this time (ms epoch) expired reports still count with their last known
 *   value, so a node that restarts does not treat every region as down before proxies report again.
 */
export function evaluateRegionHealth(
  reports: ReadonlyMap<string, HealthReport> | undefined,
  now: number,
  graceUntil = 0,
): RegionHealthView {
  if (reports === undefined || reports.size === 0) return UNMONITORED;
  const all = [...reports.values()];
  const fresh = all.filter((r) => r.expiresAt > now);
  const inGrace = fresh.length === 0 && now < graceUntil;
  const used = fresh.length > 0 ? fresh : inGrace ? all : [];
  const lastReportAt = Math.max(...all.map((r) => r.reportedAt));
  if (used.length === 0) {
    return {
      status: 'expired',
      up: false,
      reporters: all.length,
      freshReporters: 0,
      healthyBackends: 0,
      totalBackends: 0,
      inFlight: 0,
      requestRate: 0,
      p95LatencyMs: 0,
      lastReportAt,
    };
  }
  const up = majorityOfNodesHealthy(used);
  return {
    status: inGrace ? 'stale' : up ? 'healthy' : 'unhealthy',
    up,
    reporters: all.length,
    freshReporters: fresh.length,
    healthyBackends: Math.max(...used.map((r) => r.healthyBackends)),
    totalBackends: Math.max(...used.map((r) => r.totalBackends)),
    inFlight: used.reduce((s, r) => s + r.inFlight, 0),
    requestRate: used.reduce((s, r) => s + r.requestRate, 0),
    p95LatencyMs: Math.max(...used.map((r) => r.p95LatencyMs)),
    lastReportAt,
  };
}
