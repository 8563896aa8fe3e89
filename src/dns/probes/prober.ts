// DNS-side probes: the checks of `dns.steering.health.probes`, run by this node's main process
// (never on the answer path) against each address of each checked region (or the check's fixed
// host). Each target goes up after `rise` passes and down after `fall` failures; the node's vote for
// a region is up while any of its targets is up. The vote is a health report (`probe:<node>`, kind
// `probe`) written to the state store once per change and rewritten at half its lifetime, never per
// probe. It carries `since`: the start of the first probe of the streak that changed it, so the
// region's downAfter/upAfter count from the first evidence, not from when `fall` was reached.
import type { DeepReadonly } from '../../config/load.js';
import type { ProbeCheckConfig, RegionHealthConfig } from '../../config/region-health-schema.js';
import { describeError } from '../../core/errors.js';
import type { BackendHealth, HealthReport, Snapshot } from '../../core/types.js';
import type { Logger } from '../../infra/logger.js';
import { runProbe, targetHost, type ProbeResult } from './checks.js';

export interface ProberOptions {
  readonly nodeId: string;
  readonly health: DeepReadonly<RegionHealthConfig>;
  readonly snapshot: () => Snapshot;
  /** Called on every state change (regions added, addresses changed); returns an unsubscribe. */
  readonly onChange: (listener: () => void) => () => void;
  readonly reportHealth: (report: HealthReport) => Promise<void>;
  readonly logger: Logger;
  readonly clock?: () => number;
  readonly random?: () => number;
}

type TargetState = 'unknown' | 'up' | 'down';

interface Target {
  readonly id: string;
  readonly check: DeepReadonly<ProbeCheckConfig>;
  readonly host: string;
  state: TargetState;
  /** Start of the first probe of the current streak of equal results. */
  streakSince: number;
  streakOk: boolean | undefined;
  streak: number;
  /** Start of the streak that set `state`. */
  since: number;
  lastDetail: string;
  timer: NodeJS.Timeout | undefined;
}

interface RegionVoteState {
  up: boolean | undefined;
  since: number | undefined;
  prevSince: number | undefined;
  /** The report last written successfully (to know when a rewrite is a change). */
  written: string | undefined;
  /** The report being written now, if any. */
  inFlight: string | undefined;
  /** A change came while a write was in flight: write again after it. */
  dirty: boolean;
}

/** `c0-192-0-2-10`: a target id that is a valid backend id ([a-z0-9-], at most 63). */
function targetId(index: number, host: string): string {
  return `c${index}-${host.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`.slice(0, 63).replace(/-+$/, '');
}

/** Whether this node probes, under `probes.nodes`. */
export function probesOnNode(health: DeepReadonly<RegionHealthConfig>, nodeId: string): boolean {
  const nodes = health.probes.nodes;
  return Object.keys(health.probes.checks).length > 0 && (nodes.length === 0 || nodes.includes(nodeId));
}

export class RegionProber {
  private readonly options: ProberOptions;
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly reporterId: string;
  private readonly ttlMs: number;
  /** regionId → target id → target. */
  private readonly targets = new Map<string, Map<string, Target>>();
  private readonly votes = new Map<string, RegionVoteState>();
  private unsubscribe: (() => void) | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: ProberOptions) {
    this.options = options;
    this.clock = options.clock ?? Date.now;
    this.random = options.random ?? Math.random;
    this.reporterId = `probe:${options.nodeId}`;
    this.ttlMs = options.health.probes.voteTtlSeconds * 1000;
  }

  start(): void {
    this.reconcile();
    this.unsubscribe = this.options.onChange(() => this.reconcile());
    // Rewrites each vote at half its lifetime, and retries writes the store refused.
    const every = Math.max(250, Math.floor(this.ttlMs / 2));
    this.refreshTimer = setInterval(() => {
      for (const regionId of this.votes.keys()) this.write(regionId, true);
    }, every);
    this.refreshTimer.unref();
  }

  close(): void {
    this.closed = true;
    this.unsubscribe?.();
    if (this.refreshTimer !== undefined) clearInterval(this.refreshTimer);
    for (const region of this.targets.values()) for (const t of region.values()) clearTimeout(t.timer);
    this.targets.clear();
  }

  /** Each target's state (for tests and logs). */
  targetStates(regionId: string): ReadonlyMap<string, TargetState> {
    return new Map([...(this.targets.get(regionId)?.values() ?? [])].map((t) => [t.id, t.state]));
  }

  /** Starts probing new targets and stops probing gone ones (region removed, address changed). */
  private reconcile(): void {
    if (this.closed) return;
    const snapshot = this.options.snapshot();
    for (const [regionId, checks] of Object.entries(this.options.health.probes.checks)) {
      const region = snapshot.regions.get(regionId);
      const wanted = new Map<string, { check: DeepReadonly<ProbeCheckConfig>; host: string }>();
      if (region !== undefined) {
        checks.forEach((check, i) => {
          const hosts = check.host !== undefined ? [check.host] : [...region.ipv4, ...region.ipv6];
          for (const address of hosts) {
            const host = targetHost(check, address);
            wanted.set(targetId(i, host), { check, host });
          }
        });
      }
      let current = this.targets.get(regionId);
      if (current === undefined) {
        current = new Map();
        this.targets.set(regionId, current);
      }
      for (const [id, target] of current) {
        if (!wanted.has(id)) {
          clearTimeout(target.timer);
          current.delete(id);
        }
      }
      for (const [id, { check, host }] of wanted) {
        if (current.has(id)) continue;
        const target: Target = {
          id,
          check,
          host,
          state: 'unknown',
          streakSince: 0,
          streakOk: undefined,
          streak: 0,
          since: 0,
          lastDetail: '',
          timer: undefined,
        };
        current.set(id, target);
        // Spread the first probes over one interval so targets do not fire together.
        this.schedule(regionId, target, check.intervalMs * this.random());
      }
      if (region === undefined) this.targets.delete(regionId);
      else this.updateVote(regionId);
    }
  }

  private schedule(regionId: string, target: Target, delayMs: number): void {
    target.timer = setTimeout(() => void this.probe(regionId, target), delayMs);
    target.timer.unref();
  }

  private async probe(regionId: string, target: Target): Promise<void> {
    const started = this.clock();
    const result = await runProbe(target.check, target.host);
    if (this.closed || this.targets.get(regionId)?.get(target.id) !== target) return;
    this.record(regionId, target, result, started);
    const { intervalMs, jitter } = target.check;
    const interval = intervalMs * (1 - jitter + 2 * jitter * this.random());
    // The interval runs from probe start to probe start, so a slow probe does not slow the rhythm.
    this.schedule(regionId, target, Math.max(0, started + interval - this.clock()));
  }

  private record(regionId: string, target: Target, result: ProbeResult, started: number): void {
    if (target.streakOk === result.ok) target.streak++;
    else {
      target.streakOk = result.ok;
      target.streak = 1;
      target.streakSince = started;
    }
    if (!result.ok) target.lastDetail = result.detail;
    const wanted: TargetState = result.ok ? 'up' : 'down';
    const needed = result.ok ? target.check.rise : target.check.fall;
    if (target.state !== wanted && target.streak >= needed) {
      target.state = wanted;
      target.since = target.streakSince;
      this.options.logger.info(
        { region: regionId, target: target.id, state: wanted, detail: result.detail },
        'probe target changed',
      );
      this.updateVote(regionId, target);
    }
  }

  /** Recomputes the node's vote for a region; `changed`: the target whose change caused it. */
  private updateVote(regionId: string, changed?: Target): void {
    const targets = [...(this.targets.get(regionId)?.values() ?? [])];
    let vote = this.votes.get(regionId);
    if (vote === undefined) {
      vote = {
        up: undefined,
        since: undefined,
        prevSince: undefined,
        written: undefined,
        inFlight: undefined,
        dirty: false,
      };
      this.votes.set(regionId, vote);
    }
    const anyUp = targets.some((t) => t.state === 'up');
    const allKnown = targets.length > 0 && targets.every((t) => t.state !== 'unknown');
    // No vote while it could still go either way (a target not judged yet and none up).
    const up = anyUp ? true : allKnown ? false : undefined;
    if (up === undefined) return;
    if (up !== vote.up) {
      vote.prevSince = vote.since;
      vote.since = changed?.since ?? this.clock();
      vote.up = up;
    }
    this.write(regionId, false);
  }

  private reportOf(regionId: string, vote: RegionVoteState): HealthReport | undefined {
    if (vote.up === undefined || vote.since === undefined) return undefined;
    const targets = [...(this.targets.get(regionId)?.values() ?? [])].sort((a, b) => (a.id < b.id ? -1 : 1));
    const backends: BackendHealth[] = targets
      .filter((t) => t.state !== 'unknown')
      .map((t) =>
        t.state === 'up'
          ? { backendId: t.id, healthy: true }
          : { backendId: t.id, healthy: false, reason: t.lastDetail.slice(0, 1000) },
      );
    const now = this.clock();
    return {
      regionId,
      reporterId: this.reporterId,
      kind: 'probe',
      healthyBackends: backends.filter((b) => b.healthy).length,
      totalBackends: backends.length,
      inFlight: 0,
      requestRate: 0,
      p95LatencyMs: 0,
      reportedAt: now,
      expiresAt: now + this.ttlMs,
      since: vote.since,
      ...(vote.prevSince === undefined ? {} : { prevSince: vote.prevSince }),
      backends,
    };
  }

  /**
   * Writes the vote when it differs from the one last written (or `refresh`: always, to keep it
   * alive). One write at a time per region; a change during a write is written right after it.
   */
  private write(regionId: string, refresh: boolean): void {
    const vote = this.votes.get(regionId);
    if (vote === undefined || this.closed) return;
    const report = this.reportOf(regionId, vote);
    if (report === undefined) return;
    const key = JSON.stringify({ ...report, reportedAt: 0, expiresAt: 0 });
    if (!refresh && (key === vote.written || key === vote.inFlight)) return;
    if (vote.inFlight !== undefined) {
      vote.dirty = true;
      return;
    }
    vote.inFlight = key;
    this.options
      .reportHealth(report)
      .then(
        () => {
          vote.written = key;
        },
        (err: unknown) => {
          // Retried by the refresh timer; the store's outage handling keeps the old vote alive.
          vote.written = undefined;
          this.options.logger.warn({ region: regionId, err: describeError(err) }, 'probe vote write failed');
        },
      )
      .finally(() => {
        vote.inFlight = undefined;
        if (vote.dirty) {
          vote.dirty = false;
          this.write(regionId, false);
        }
      });
  }
}
