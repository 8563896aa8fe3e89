// Turns the state store's backend health into history events: a backend going in or out by the
// majority of the fresh proxy reports that mention it (source `proxy`, reason: the reporters' own,
// e.g. "active check failed 3x: connect ECONNREFUSED"). Region verdicts (quorum + hysteresis) come
// from the node's HealthVerdictWatcher through verdict-sink.ts, so history and DNS agree on them.
// The first evaluation is the baseline (no events). Like the alert manager, nothing here runs on
// a query or request path: a change marks the view dirty and a timer catches expiries.
import type { Snapshot } from '../../core/types.js';
import type { HealthEvent } from '../../storage/history-store.js';
import type { StateStore } from '../../storage/state-store.js';

export interface HealthWatchOptions {
  readonly store: Pick<StateStore, 'current' | 'onChange'>;
  readonly record: (event: HealthEvent) => Promise<void>;
  /** The node's health grace period end (no verdicts before it). */
  readonly graceUntil?: number;
  readonly tickMs?: number;
  readonly clock?: () => number;
}

export class HealthWatch {
  /** `region/backend` → healthy. */
  private readonly backends = new Map<string, boolean>();
  private readonly clock: () => number;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private dirty = false;

  constructor(private readonly options: HealthWatchOptions) {
    this.clock = options.clock ?? Date.now;
  }

  start(): void {
    this.evaluate(true);
    this.unsubscribe = this.options.store.onChange(() => {
      if (this.dirty) return;
      this.dirty = true;
      setImmediate(() => {
        this.dirty = false;
        if (this.timer !== undefined) this.evaluate(false);
      });
    });
    this.timer = setInterval(() => this.evaluate(false), this.options.tickMs ?? 1000);
    this.timer.unref();
  }

  close(): void {
    this.unsubscribe?.();
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private emit(baseline: boolean, event: HealthEvent): void {
    if (!baseline) void this.options.record(event);
  }

  private evaluate(baseline: boolean): void {
    const now = this.clock();
    const snapshot = this.options.store.current();
    for (const region of snapshot.regions.values()) {
      this.evaluateBackends(snapshot, region.id, now, baseline);
    }
  }

  private evaluateBackends(snapshot: Snapshot, regionId: string, now: number, baseline: boolean): void {
    const votes = new Map<string, { healthy: number; total: number; reason?: string }>();
    for (const report of snapshot.health.get(regionId)?.values() ?? []) {
      if (report.expiresAt <= now) continue;
      for (const b of report.backends ?? []) {
        const v = votes.get(b.backendId) ?? { healthy: 0, total: 0 };
        v.total++;
        if (b.healthy) v.healthy++;
        else if (b.reason !== undefined) v.reason = b.reason;
        votes.set(b.backendId, v);
      }
    }
    for (const [backend, v] of votes) {
      const key = `${regionId}/${backend}`;
      const healthy = v.healthy * 2 >= v.total;
      const prev = this.backends.get(key);
      this.backends.set(key, healthy);
      if (prev === healthy || (prev === undefined && healthy)) continue;
      const reason = healthy
        ? `healthy again (${v.healthy}/${v.total} reporters)`
        : `${v.total - v.healthy}/${v.total} reporters see it unhealthy${v.reason === undefined ? '' : `: ${v.reason}`}`;
      this.emit(baseline, { t: now, region: regionId, backend, healthy, reason, source: 'proxy' });
    }
  }
}
