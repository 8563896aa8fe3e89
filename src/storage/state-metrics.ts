// StateStore metrics, read from `store.status()` at scrape time (nothing on the hot path): connection,
// degradation (issue #12: outage, failing writes, frozen health, lost data) and the change feed.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { StateStore } from './state-store.js';

export function registerStateMetrics(registry: Registry, store: StateStore): void {
  new Gauge({
    name: 'meridian_state_redis_connected',
    help: 'Whether writes can reach the state store (1) or not (0); always 1 for the embedded store.',
    labelNames: ['backend'],
    registers: [registry],
    collect() {
      const s = store.status();
      this.reset();
      this.set({ backend: s.kind }, s.connected ? 1 : 0);
    },
  });
  new Gauge({
    name: 'meridian_state_snapshot_age_seconds',
    help: 'Seconds since this node last confirmed its state snapshot against the source of truth.',
    registers: [registry],
    collect() {
      this.set(store.status().snapshotAgeMs / 1000);
    },
  });
  new Gauge({
    name: 'meridian_state_change_feed_lag_seconds',
    help: 'Delay between a change being published and this node applying it (last seen).',
    registers: [registry],
    collect() {
      this.set(store.status().changeFeedLagMs / 1000);
    },
  });
  new Gauge({
    name: 'meridian_state_degraded',
    help: 'Whether this node is degraded (1): store unreachable, writes failing, health frozen or store data lost.',
    registers: [registry],
    collect() {
      this.set((store.status().degraded?.length ?? 0) > 0 ? 1 : 0);
    },
  });
  new Gauge({
    name: 'meridian_state_data_lost',
    help: "Whether the state store lost the fleet's data (1: its epoch marker is missing or foreign; reseed it).",
    registers: [registry],
    collect() {
      this.set(store.status().dataLost === undefined ? 0 : 1);
    },
  });
  new Gauge({
    name: 'meridian_state_health_frozen_seconds',
    help: 'Seconds the health clock has been frozen for (0 while it runs): reports cannot be refreshed.',
    registers: [registry],
    collect() {
      const since = store.status().healthFrozenSince;
      this.set(since === undefined ? 0 : Math.max(0, Date.now() - since) / 1000);
    },
  });
  new Gauge({
    name: 'meridian_state_last_write_age_seconds',
    help: 'Seconds since this node last had a write accepted by the state store (absent before the first).',
    registers: [registry],
    collect() {
      this.reset();
      const age = store.status().lastWriteAgeMs;
      if (age !== undefined) this.set(age / 1000);
    },
  });
  let failedReported = 0;
  new Counter({
    name: 'meridian_state_failed_writes_total',
    help: 'Writes (health reports included) that failed because the state store could not be reached.',
    registers: [registry],
    collect() {
      const failed = store.status().failedWrites ?? 0;
      if (failed > failedReported) this.inc(failed - failedReported);
      failedReported = Math.max(failedReported, failed);
    },
  });
  // The store counts resyncs itself; the counter catches up with that count at scrape time.
  let reported = 0;
  new Counter({
    name: 'meridian_state_resyncs_total',
    help: 'Full reloads of the state from its source (start, reconnect, periodic).',
    registers: [registry],
    collect() {
      const resyncs = store.status().resyncs;
      if (resyncs > reported) this.inc(resyncs - reported);
      reported = Math.max(reported, resyncs);
    },
  });
}
