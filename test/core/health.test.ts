import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluateRegionHealth, reporterNode } from '../../src/core/health.js';
import type { HealthReport } from '../../src/core/types.js';

const NOW = 1_700_000_000_000;

function report(
  reporterId: string,
  healthyBackends: number,
  options: Partial<HealthReport> = {},
): HealthReport {
  return {
    regionId: 'eu',
    reporterId,
    healthyBackends,
    totalBackends: 4,
    inFlight: 10,
    requestRate: 100,
    p95LatencyMs: 12,
    reportedAt: NOW - 1000,
    expiresAt: NOW + 2000,
    ...options,
  };
}

function reports(...list: HealthReport[]): Map<string, HealthReport> {
  return new Map(list.map((r) => [r.reporterId, r]));
}

void describe('evaluateRegionHealth', () => {
  void it('calls a region that never reported unmonitored (up; the caller decides)', () => {
    const view = evaluateRegionHealth(undefined, NOW);
    assert.equal(view.status, 'unmonitored');
    assert.equal(view.up, true);
    assert.equal(evaluateRegionHealth(new Map(), NOW).status, 'unmonitored');
  });

  void it('is healthy with a fresh healthy report and sums load over reporters', () => {
    const view = evaluateRegionHealth(reports(report('a', 3), report('b', 4, { inFlight: 5 })), NOW);
    assert.equal(view.status, 'healthy');
    assert.equal(view.up, true);
    assert.equal(view.inFlight, 15);
    assert.equal(view.requestRate, 200);
    assert.equal(view.healthyBackends, 4);
    assert.equal(view.freshReporters, 2);
  });

  void it('turns a silent region down by itself once every report expired', () => {
    const stale = reports(report('a', 4, { expiresAt: NOW - 1 }));
    const view = evaluateRegionHealth(stale, NOW);
    assert.equal(view.status, 'expired');
    assert.equal(view.up, false);
    assert.equal(view.lastReportAt, NOW - 1000);
  });

  void it('keeps the last known value during the start-up grace period (no cold-start blackhole)', () => {
    const stale = reports(report('a', 4, { expiresAt: NOW - 1 }));
    const view = evaluateRegionHealth(stale, NOW, NOW + 5000);
    assert.equal(view.status, 'stale');
    assert.equal(view.up, true);
    // ...but a last known "no healthy backend" stays down.
    assert.equal(
      evaluateRegionHealth(reports(report('a', 0, { expiresAt: NOW - 1 })), NOW, NOW + 5000).up,
      false,
    );
  });

  void it('ignores expired reports when fresh ones exist', () => {
    const view = evaluateRegionHealth(reports(report('a', 0, { expiresAt: NOW - 1 }), report('b', 2)), NOW);
    assert.equal(view.status, 'healthy');
    assert.equal(view.freshReporters, 1);
    assert.equal(view.reporters, 2);
  });

  void it('decides by majority of proxy nodes; a tie counts as up', () => {
    assert.equal(
      evaluateRegionHealth(reports(report('a', 0), report('b', 0), report('c', 3)), NOW).up,
      false,
    );
    assert.equal(evaluateRegionHealth(reports(report('a', 0), report('b', 3)), NOW).up, true);
    assert.equal(evaluateRegionHealth(reports(report('a', 0)), NOW).status, 'unhealthy');
  });

  void it('gives the workers of one node a single vote', () => {
    // Node x has four workers that all see no healthy backend; nodes y and z (one process each) do.
    const view = evaluateRegionHealth(
      reports(
        report('x/w1', 0),
        report('x/w2', 0),
        report('x/w3', 0),
        report('x/w4', 0),
        report('y', 2),
        report('z', 2),
      ),
      NOW,
    );
    assert.equal(view.up, true, 'two healthy nodes outvote one unhealthy node with four workers');
    assert.equal(reporterNode('host:1/w12'), 'host:1');
    assert.equal(reporterNode('host:1'), 'host:1');
    assert.equal(reporterNode('a/b/w'), 'a/b/w');
  });
});
