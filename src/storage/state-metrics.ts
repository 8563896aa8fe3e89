// StateStore metrics, read from `store.status()` at scrape time (nothing on the hot path).
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
