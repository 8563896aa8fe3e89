// The verdict watcher with an injected clock over a real memory store: each change of a region's
// verdict reaches the sinks once, with its derived flip time, votes and reasons; a persistent
// disagreement between vantage points raises one alert, and one more when they agree again. The
// history sink turns a change of serving into one `verdict` health event, at the derived time.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RegionHealthPolicy } from '../../src/core/health.js';
import type { HealthReport } from '../../src/core/types.js';
import { silentLogger } from '../../src/infra/logger.js';
import { HealthVerdictWatcher, type HealthVerdictChange } from '../../src/ops/health-verdicts.js';
import { historyVerdictSink } from '../../src/ops/history/verdict-sink.js';
import type { HealthEvent } from '../../src/storage/history-store.js';
import type { AlertInput } from '../../src/storage/ops-record-store.js';
import { MemoryStateStore } from '../../src/storage/memory/state-store.js';

const POLICY: RegionHealthPolicy = {
  rule: {
    quorum: 'majority',
    weights: { proxy: 1, probe: 1 },
    downAfterMs: 2000,
    upAfterMs: 5000,
    minFlipIntervalMs: 10000,
    unmonitored: 'probe-only',
  },
  checked: true,
};

const vote = (node: string, up: boolean, since: number): HealthReport => ({
  regionId: 'eu',
  reporterId: `probe:${node}`,
  kind: 'probe',
  healthyBackends: up ? 1 : 0,
  totalBackends: 1,
  inFlight: 0,
  requestRate: 0,
  p95LatencyMs: 0,
  reportedAt: Date.now(),
  expiresAt: Date.now() + 3_600_000,
  since,
});

void describe('HealthVerdictWatcher', () => {
  void it('emits each verdict change once, at its derived time, and alerts on lasting disagreement', async () => {
    const store = new MemoryStateStore({});
    await store.start();
    await store.createRegion({ id: 'eu', lat: 50, lon: 8, ipv4: ['192.0.2.1'] });
    const T = Date.now();
    let now = T;
    const changes: HealthVerdictChange[] = [];
    const alerts: AlertInput[] = [];
    const watcher = new HealthVerdictWatcher({
      store,
      policy: () => POLICY,
      sinks: [{ verdictChanged: (c) => changes.push(c) }],
      raise: (alert) => alerts.push(alert),
      log: silentLogger,
      clock: () => now,
    });
    await store.reportHealth(vote('a', true, T));
    await store.reportHealth(vote('b', true, T));
    await store.reportHealth(vote('c', true, T));
    watcher.evaluate(true);
    assert.equal(changes.length, 0, 'the baseline emits nothing');

    await store.reportHealth(vote('a', false, T + 1000));
    await store.reportHealth(vote('b', false, T + 1200));
    now = T + 3199;
    watcher.evaluate(false);
    assert.equal(changes.length, 0, 'still inside downAfter');
    now = T + 3500;
    watcher.evaluate(false);
    watcher.evaluate(false);
    assert.equal(changes.length, 1);
    const change = changes[0];
    assert.equal(change?.from, 'healthy');
    assert.equal(change?.to, 'unhealthy');
    assert.equal(change?.at, T + 3200);
    assert.equal(change?.votes.length, 3);
    assert.ok((change?.reasons.length ?? 0) > 0);

    assert.equal(alerts.length, 0);
    now = T + 3199 + 60_000; // first seen disagreeing at T + 3199
    watcher.evaluate(false);
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0]?.type, 'health_disagreement');
    assert.equal(alerts[0]?.level, 'warning');
    watcher.evaluate(false);
    assert.equal(alerts.length, 1, 'one alert per disagreement');

    await store.reportHealth(vote('c', false, now));
    watcher.evaluate(false);
    assert.equal(alerts.length, 2);
    assert.equal(alerts[1]?.level, 'info');
    watcher.close();
    await store.close();
  });

  void it('stores a change of serving as one verdict event in the health history', async () => {
    const store = new MemoryStateStore({});
    await store.start();
    await store.createRegion({ id: 'eu', lat: 50, lon: 8, ipv4: ['192.0.2.1'] });
    const T = Date.now();
    let now = T;
    const events: HealthEvent[] = [];
    const watcher = new HealthVerdictWatcher({
      store,
      policy: () => POLICY,
      graceUntil: T + 1000,
      sinks: [historyVerdictSink((e) => Promise.resolve(void events.push(e)))],
      log: silentLogger,
      clock: () => now,
    });
    watcher.evaluate(true);
    // No votes yet, inside the grace: unknown (serving). The first votes make it healthy: still serving.
    await store.reportHealth(vote('a', true, T));
    await store.reportHealth(vote('b', true, T));
    now = T + 10;
    watcher.evaluate(false);
    assert.equal(events.length, 0, 'unknown → healthy is no event');

    await store.reportHealth(vote('a', false, T + 100));
    await store.reportHealth(vote('b', false, T + 100));
    now = T + 5000;
    watcher.evaluate(false);
    assert.equal(events.length, 1);
    assert.equal(events[0]?.region, 'eu');
    assert.equal(events[0]?.backend, null);
    assert.equal(events[0]?.healthy, false);
    assert.equal(events[0]?.source, 'verdict');
    assert.equal(events[0]?.t, T + 2100, 'the flip time derived from the votes (since + downAfter)');
    assert.match(events[0]?.reason ?? '', /2 of 2 vantage point\(s\) say down/);
    assert.match(events[0]?.reason ?? '', /votes: .*probe:a \(probe\) down.*probe:b \(probe\) down/);
    watcher.close();
    await store.close();
  });
});
