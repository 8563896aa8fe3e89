import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { HealthReport } from '../../../src/core/types.js';
import { evaluateRegionHealth } from '../../../src/core/health.js';
import { MemoryStateStore } from '../../../src/storage/memory/state-store.js';
import { RegionHealthReporter, type RegionHealthSample } from '../../../src/proxy/health/reporter.js';
import { waitFor } from '../../helpers/wait.js';

/** The real store, with slow health writes that record how many overlap. */
class SlowStore extends MemoryStateStore {
  active = 0;
  maxActive = 0;
  writes = 0;
  override async reportHealth(report: HealthReport): Promise<void> {
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      await new Promise((r) => setTimeout(r, 60));
      await super.reportHealth(report);
      this.writes++;
    } finally {
      this.active--;
    }
  }
}

const store = new SlowStore();
const reporters: RegionHealthReporter[] = [];
before(async () => {
  await store.start();
  for (const id of ['r1', 'r2', 'r3']) await store.createRegion({ id, lat: 0, lon: 0, ipv4: ['192.0.2.1'] });
});
after(async () => {
  await Promise.all(reporters.map((r) => r.close({ final: false })));
  await store.close();
});

const sample = (over: Partial<RegionHealthSample> = {}): RegionHealthSample => ({
  healthyBackends: 3,
  totalBackends: 4,
  inFlight: 7,
  requestRate: 12.5,
  p95LatencyMs: 8,
  backends: [{ backendId: 'b4', healthy: false, reason: 'draining' }],
  ...over,
});

function reporter(
  regionId: string,
  reporterId: string,
  collect = (): RegionHealthSample => sample(),
): RegionHealthReporter {
  const r = new RegionHealthReporter({ store, regionId, reporterId, intervalMs: 20, ttlMs: 400, collect });
  reporters.push(r);
  return r;
}

const reportOf = (regionId: string, reporterId: string): HealthReport | undefined =>
  store.current().health.get(regionId)?.get(reporterId);

void test('reports appear in the snapshot with an expiry and keep being refreshed; writes never overlap', async () => {
  const r = reporter('r1', 'proxy-a');
  r.start();
  await waitFor('first report', () => reportOf('r1', 'proxy-a') !== undefined, { timeoutMs: 5000 });
  const first = reportOf('r1', 'proxy-a') as HealthReport;
  assert.equal(first.expiresAt - first.reportedAt, 400);
  assert.equal(first.healthyBackends, 3);
  assert.equal(first.totalBackends, 4);
  assert.equal(first.inFlight, 7);
  assert.equal(first.requestRate, 12.5);
  assert.equal(first.p95LatencyMs, 8);
  assert.deepEqual(first.backends, [{ backendId: 'b4', healthy: false, reason: 'draining' }]);
  assert.equal(evaluateRegionHealth(store.current().health.get('r1'), Date.now()).status, 'healthy');

  await waitFor('a refreshed report', () => (reportOf('r1', 'proxy-a')?.reportedAt ?? 0) > first.reportedAt, {
    timeoutMs: 5000,
  });
  await waitFor('several writes', () => r.status().reports >= 4, { timeoutMs: 5000 });
  // Ticks every 20 ms against 60 ms writes: ticks that find a write running are skipped.
  assert.equal(store.maxActive, 1);
  assert.equal(r.status().failures, 0);
});

void test('a reporter that stops is expired after the ttl', async () => {
  const r = reporter('r2', 'proxy-b');
  r.start();
  await waitFor('report', () => reportOf('r2', 'proxy-b') !== undefined, { timeoutMs: 5000 });
  await r.close({ final: false });
  const last = reportOf('r2', 'proxy-b') as HealthReport;
  assert.equal(evaluateRegionHealth(store.current().health.get('r2'), last.expiresAt - 1).status, 'healthy');
  await waitFor(
    'expiry',
    () => evaluateRegionHealth(store.current().health.get('r2'), Date.now()).status === 'expired',
    { timeoutMs: 5000 },
  );
  assert.ok(Date.now() >= last.expiresAt);
  assert.equal(reportOf('r2', 'proxy-b')?.reportedAt, last.reportedAt, 'nothing written after close');
});

void test('close sends a final report that takes the proxy out of the region', async () => {
  const r = reporter('r3', 'proxy-c');
  r.start();
  await waitFor('report', () => reportOf('r3', 'proxy-c') !== undefined, { timeoutMs: 5000 });
  assert.equal(evaluateRegionHealth(store.current().health.get('r3'), Date.now()).up, true);
  await r.close();
  const last = reportOf('r3', 'proxy-c') as HealthReport;
  assert.equal(last.healthyBackends, 0);
  assert.equal(last.inFlight, 0);
  assert.equal(last.requestRate, 0);
  assert.equal(last.totalBackends, 4);
  const view = evaluateRegionHealth(store.current().health.get('r3'), Date.now());
  assert.equal(view.status, 'unhealthy');
  assert.equal(view.up, false);

  // A custom final report, e.g. reduced capacity during a rolling restart.
  const r2 = reporter('r3', 'proxy-d');
  r2.start();
  await waitFor('report', () => reportOf('r3', 'proxy-d') !== undefined, { timeoutMs: 5000 });
  await r2.close({ final: { healthyBackends: 1 } });
  assert.equal(reportOf('r3', 'proxy-d')?.healthyBackends, 1);
});

void test('store and collect failures are counted and logged, never thrown', async () => {
  let calls = 0;
  const unknownRegion = reporter('no-such-region', 'proxy-e');
  unknownRegion.start();
  const broken = reporter('r1', 'proxy-f', () => {
    calls++;
    throw new Error('collect exploded');
  });
  broken.start();
  await waitFor('failures', () => unknownRegion.status().failures >= 2 && broken.status().failures >= 2, {
    timeoutMs: 5000,
  });
  assert.match(unknownRegion.status().lastError ?? '', /not found/);
  assert.equal(broken.status().lastError, 'collect exploded');
  assert.ok(calls >= 2);
  await unknownRegion.close();
  await broken.close();
  assert.equal(reportOf('r1', 'proxy-f'), undefined);
});

void test('the constructor rejects a ttl that does not outlive the interval', () => {
  assert.throws(
    () =>
      new RegionHealthReporter({
        store,
        regionId: 'r1',
        reporterId: 'x',
        intervalMs: 1000,
        ttlMs: 1000,
        collect: () => sample(),
      }),
    RangeError,
  );
});
