// Region verdict changes as events: the watcher evaluates every region's health (with the quorum
// rule) on each state change and on a short tick, and hands each change of verdict —
// `{ at, regionId, from, to, votes, reasons }` — to the HealthVerdictSinks it is given (the default
// one logs it; the health history store of the console can be another). It also raises one
// `health_disagreement` alert when a region's vantage points disagree for longer than a while (a
// partition between vantage points rather than a dead region), and an info alert when they agree
// again. Region up/down and flapping alerts stay with the AlertManager, which judges with the same
// rule. Runs in the node's main process only; no query or request path waits on it.
import {
  evaluateRegionHealth,
  type RegionHealthPolicy,
  type RegionHealthStatus,
  type VoteView,
} from '../core/health.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../infra/logger.js';
import type { StateStore } from '../storage/state-store.js';
import type { AlertInput } from '../storage/ops-record-store.js';

export interface HealthVerdictChange {
  /** When the verdict changed (the derived flip time when the votes tell it, else when seen). */
  readonly at: number;
  readonly regionId: string;
  readonly from: RegionHealthStatus;
  readonly to: RegionHealthStatus;
  /** Whether the region served before the change, and whether it serves now. */
  readonly wasUp: boolean;
  readonly up: boolean;
  readonly votes: readonly VoteView[];
  readonly reasons: readonly string[];
}

export interface HealthVerdictSink {
  verdictChanged(change: HealthVerdictChange): void;
}

/** The default sink: one log line per change. */
export function loggingVerdictSink(log: Logger): HealthVerdictSink {
  return {
    verdictChanged: (change) =>
      log.info(
        {
          region: change.regionId,
          from: change.from,
          to: change.to,
          at: new Date(change.at).toISOString(),
          votes: change.votes,
          reasons: change.reasons,
        },
        'region health verdict changed',
      ),
  };
}

export interface HealthVerdictWatcherOptions {
  readonly store: Pick<StateStore, 'current' | 'onChange'>;
  readonly policy: (regionId: string) => RegionHealthPolicy | undefined;
  readonly graceUntil?: number;
  readonly sinks: readonly HealthVerdictSink[];
  /** Raises an alert (AlertManager.raise); disagreement alerts go nowhere without it. */
  readonly raise?: (alert: AlertInput, dedupe: { key: string; ms: number }) => unknown;
  /** Vantage points must disagree this long before an alert; default 60 s. */
  readonly disagreeAfterMs?: number;
  readonly log: Logger;
  readonly clock?: () => number;
  /** Re-evaluation period (pending flips happen with time alone); default 250 ms. */
  readonly tickMs?: number;
}

interface RegionWatch {
  status: RegionHealthStatus;
  up: boolean;
  disagreeSince: number | undefined;
  disagreeAlerted: boolean;
}

export class HealthVerdictWatcher {
  private readonly options: HealthVerdictWatcherOptions;
  private readonly clock: () => number;
  private readonly disagreeAfterMs: number;
  private readonly regions = new Map<string, RegionWatch>();
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(options: HealthVerdictWatcherOptions) {
    this.options = options;
    this.clock = options.clock ?? Date.now;
    this.disagreeAfterMs = options.disagreeAfterMs ?? 60_000;
  }

  /** Takes the current verdicts as the baseline (no events for them) and starts watching. */
  start(): void {
    this.evaluate(true);
    this.unsubscribe = this.options.store.onChange(() => this.evaluate(false));
    this.timer = setInterval(() => this.evaluate(false), this.options.tickMs ?? 250);
    this.timer.unref();
  }

  close(): void {
    this.unsubscribe?.();
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  /** One pass over every region at the clock's time (public for tests with an injected clock). */
  evaluate(baseline: boolean): void {
    const now = this.clock();
    const snapshot = this.options.store.current();
    for (const id of this.regions.keys()) if (!snapshot.regions.has(id)) this.regions.delete(id);
    for (const regionId of snapshot.regions.keys()) {
      const view = evaluateRegionHealth(
        snapshot.health.get(regionId),
        now,
        this.options.graceUntil ?? 0,
        this.options.policy(regionId),
      );
      const seen = this.regions.get(regionId);
      if (seen === undefined) {
        this.regions.set(regionId, {
          status: view.status,
          up: view.up,
          disagreeSince: undefined,
          disagreeAlerted: false,
        });
      } else if (seen.status !== view.status || seen.up !== view.up) {
        const change: HealthVerdictChange = {
          at: view.lastFlipAt !== undefined && view.lastFlipAt <= now ? view.lastFlipAt : now,
          regionId,
          from: seen.status,
          to: view.status,
          wasUp: seen.up,
          up: view.up,
          votes: view.votes,
          reasons: view.reasons,
        };
        seen.status = view.status;
        seen.up = view.up;
        if (!baseline) this.emit(change);
      }
      this.watchDisagreement(regionId, view.votes, now);
    }
  }

  private emit(change: HealthVerdictChange): void {
    for (const sink of this.options.sinks) {
      try {
        sink.verdictChanged(change);
      } catch (err) {
        this.options.log.warn({ err: describeError(err) }, 'health verdict sink failed');
      }
    }
  }

  private watchDisagreement(regionId: string, votes: readonly VoteView[], now: number): void {
    const watch = this.regions.get(regionId);
    if (watch === undefined) return;
    const down = votes.filter((v) => !v.up);
    const disagree = down.length > 0 && down.length < votes.length;
    const subject = `region/${regionId}`;
    if (!disagree) {
      if (watch.disagreeAlerted) {
        this.options.raise?.(
          {
            type: 'health_disagreement',
            level: 'info',
            subject,
            message: `vantage points agree again on region ${regionId}`,
          },
          { key: `disagree-end:${regionId}:${Math.floor(now / 60_000)}`, ms: 60_000 },
        );
      }
      watch.disagreeSince = undefined;
      watch.disagreeAlerted = false;
      return;
    }
    watch.disagreeSince ??= now;
    if (watch.disagreeAlerted || now - watch.disagreeSince < this.disagreeAfterMs) return;
    watch.disagreeAlerted = true;
    const names = (list: readonly VoteView[]): string => list.map((v) => v.vantage).join(', ');
    this.options.raise?.(
      {
        type: 'health_disagreement',
        level: 'warning',
        subject,
        message: `vantage points disagree on region ${regionId} for ${Math.round((now - watch.disagreeSince) / 1000)} s (down: ${names(down)}; up: ${names(votes.filter((v) => v.up))}): a partition between vantage points rather than a dead region?`,
      },
      { key: `disagree:${regionId}:${Math.floor(watch.disagreeSince / 60_000)}`, ms: 5 * 60_000 },
    );
  }
}
