// Turns the last known health votes of a region (proxy reports and DNS-side probe votes) into one
// verdict. Pure; evaluated against a clock so that an expired report turns a silent region down
// without any notification, and a pending flip (region-verdict.ts) happens when its time comes.
import {
  describeRule,
  INSTANT_RULE,
  regionVerdict,
  type RegionHealthRule,
  type Vote,
} from './region-verdict.js';
import type { HealthReport } from './types.js';

export type RegionHealthStatus =
  /** The votes (after the hysteresis timers) let the region serve. */
  | 'healthy'
  /** The votes (after the hysteresis timers) take the region down. */
  | 'unhealthy'
  /** Every report has expired: the region went silent, so it counts as down. */
  | 'expired'
  /** Expired reports, but this node is still inside its start-up grace period: last known value used. */
  | 'stale'
  /** Checks are configured for the region but no vote came yet; served during the start-up grace. */
  | 'unknown'
  /** Nobody ever voted for the region (the `unmonitored` policy decides `up`). */
  | 'unmonitored';

/** One vantage point's vote as `status` and `explain` show it. */
export interface VoteView {
  readonly vantage: string;
  readonly kind: 'proxy' | 'probe';
  readonly up: boolean;
  readonly weight: number;
  readonly since?: number;
  /** The first failure reason the vote carries, when it says down. */
  readonly reason?: string;
}

export interface RegionHealthView {
  readonly status: RegionHealthStatus;
  /** Whether the verdict lets the region serve. */
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
  /** The votes used (one per proxy node, one per probing DNS node). */
  readonly votes: readonly VoteView[];
  /** What the quorum says now, before the timers. */
  readonly rawUp: boolean;
  /** The flip that happens at `at` (ms epoch) unless a vote changes first. */
  readonly pending?: { readonly to: 'up' | 'down'; readonly at: number };
  /** Why the verdict is what it is, in words. */
  readonly reasons: readonly string[];
  /** When the verdict last flipped, as far back as the votes tell (ms epoch). */
  readonly lastFlipAt?: number;
  /** The next time (ms epoch) this view can change without a new vote (pending flip, grace end). */
  readonly changesAt?: number;
}

/** How a region's votes are judged: the rule, and the region's own facts the rule needs. */
export interface RegionHealthPolicy {
  readonly rule: RegionHealthRule;
  /** DNS-side checks are configured for the region (so silence means their probes are missing). */
  readonly checked: boolean;
}

const INSTANT_POLICY: RegionHealthPolicy = Object.freeze({ rule: INSTANT_RULE, checked: false });

/** Whether a region nobody votes for serves, under the `unmonitored` policy. */
export function unmonitoredUp(policy: RegionHealthPolicy): boolean {
  switch (policy.rule.unmonitored) {
    case 'up':
      return true;
    case 'down':
      return false;
    case 'probe-only':
      return !policy.checked;
  }
}

function silent(
  status: 'unmonitored' | 'unknown',
  up: boolean,
  reason: string,
  changesAt?: number,
): RegionHealthView {
  return {
    status,
    up,
    reporters: 0,
    freshReporters: 0,
    healthyBackends: 0,
    totalBackends: 0,
    inFlight: 0,
    requestRate: 0,
    p95LatencyMs: 0,
    votes: [],
    rawUp: up,
    reasons: [reason],
    ...(changesAt === undefined ? {} : { changesAt }),
  };
}

/** `node-1/w2` → `node-1`: the workers of one proxy node share one vote. */
export function reporterNode(reporterId: string): string {
  const m = /^(.*)\/w\d+$/.exec(reporterId);
  return m?.[1] ?? reporterId;
}

/**
 * One vote per vantage point: each proxy node gets one (healthy when at least half of its workers
 * see a healthy backend), so a node running many workers does not outvote a node running one; each
 * probing DNS node writes one report per region, which is its vote.
 */
function votesOf(reports: readonly HealthReport[], rule: RegionHealthRule): Vote[] {
  const perVantage = new Map<string, HealthReport[]>();
  for (const r of reports) {
    const key = r.kind === 'probe' ? r.reporterId : reporterNode(r.reporterId);
    const list = perVantage.get(key);
    if (list === undefined) perVantage.set(key, [r]);
    else list.push(r);
  }
  const votes: Vote[] = [];
  for (const [vantage, list] of perVantage) {
    const kind = list[0]?.kind ?? 'proxy';
    const healthy = list.filter((r) => r.healthyBackends > 0).length;
    const single = list.length === 1 ? list[0] : undefined;
    votes.push({
      vantage,
      kind,
      up: healthy * 2 >= list.length,
      weight: rule.weights[kind],
      // Several workers: their views changed at different times; count them as long-held.
      ...(single?.since === undefined ? {} : { since: single.since }),
      ...(single?.prevSince === undefined ? {} : { prevSince: single.prevSince }),
    });
  }
  return votes.sort((a, b) => (a.vantage < b.vantage ? -1 : a.vantage > b.vantage ? 1 : 0));
}

function firstReason(reports: readonly HealthReport[], vantage: string): string | undefined {
  for (const r of reports) {
    if (r.reporterId !== vantage && reporterNode(r.reporterId) !== vantage) continue;
    const failed = r.backends?.find((b) => !b.healthy && b.reason !== undefined);
    if (failed?.reason !== undefined) return failed.reason;
  }
  return undefined;
}

function seconds(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)} s`;
}

/**
 * @param graceUntil until this time (ms epoch) expired reports still count with their last known
 *   value, so a node that restarts does not treat every region as down before proxies report again;
 *   a region with checks but no vote yet is `unknown` (and served) until then.
 * @param policy the quorum rule and timers; without one, today's instant majority (no timers).
 */
export function evaluateRegionHealth(
  reports: ReadonlyMap<string, HealthReport> | undefined,
  now: number,
  graceUntil = 0,
  policy: RegionHealthPolicy = INSTANT_POLICY,
): RegionHealthView {
  if (reports === undefined || reports.size === 0) {
    if (policy.checked && now < graceUntil) {
      return silent('unknown', true, 'checks configured, no vote yet (start-up grace)', graceUntil);
    }
    const up = unmonitoredUp(policy);
    return silent('unmonitored', up, `no votes (unmonitored: ${policy.rule.unmonitored})`);
  }
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
      votes: [],
      rawUp: false,
      reasons: ['every vote has expired: the region is silent'],
    };
  }
  const votes = votesOf(used, policy.rule);
  // Before the oldest vote history a region counts as up: every process assumes the same there.
  const verdict = regionVerdict(votes, policy.rule, now, true);
  const downVoters = votes.filter((v) => !v.up).length;
  const reasons = [
    `${downVoters} of ${votes.length} vantage point(s) say down (weight ${verdict.downWeight}/${verdict.totalWeight}): quorum says ${verdict.rawUp ? 'up' : 'down'}`,
    describeRule(policy.rule),
  ];
  if (verdict.pending !== undefined) {
    reasons.push(
      `${verdict.pending.up ? 'up' : 'down'} in ${seconds(verdict.pending.at - now)} unless a vote changes`,
    );
  } else if (verdict.rawUp !== verdict.up) {
    reasons.push('the quorum changed, the timers hold the verdict');
  }
  let changesAt = verdict.pending?.at;
  if (inGrace && (changesAt === undefined || graceUntil < changesAt)) changesAt = graceUntil;
  const proxies = used.filter((r) => r.kind !== 'probe');
  const figures = proxies.length > 0 ? proxies : used;
  return {
    status: inGrace ? 'stale' : verdict.up ? 'healthy' : 'unhealthy',
    up: verdict.up,
    reporters: all.length,
    freshReporters: fresh.length,
    healthyBackends: Math.max(...figures.map((r) => r.healthyBackends)),
    totalBackends: Math.max(...figures.map((r) => r.totalBackends)),
    inFlight: proxies.reduce((s, r) => s + r.inFlight, 0),
    requestRate: proxies.reduce((s, r) => s + r.requestRate, 0),
    p95LatencyMs: Math.max(0, ...proxies.map((r) => r.p95LatencyMs)),
    lastReportAt,
    votes: votes.map((v) => {
      const reason = v.up ? undefined : firstReason(used, v.vantage);
      return {
        vantage: v.vantage,
        kind: v.kind,
        up: v.up,
        weight: v.weight,
        ...(v.since === undefined ? {} : { since: v.since }),
        ...(reason === undefined ? {} : { reason }),
      };
    }),
    rawUp: verdict.rawUp,
    ...(verdict.pending === undefined
      ? {}
      : {
          pending: { to: verdict.pending.up ? ('up' as const) : ('down' as const), at: verdict.pending.at },
        }),
    reasons,
    ...(verdict.lastFlipAt === undefined ? {} : { lastFlipAt: verdict.lastFlipAt }),
    ...(changesAt === undefined ? {} : { changesAt }),
  };
}
