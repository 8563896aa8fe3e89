import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LatencyWindow } from '../../../src/proxy/health/latency.js';

void test('p95 and rate describe the last completed interval', () => {
  const clock = { t: 1_000 };
  const w = new LatencyWindow({ now: () => clock.t });
  assert.equal(w.p95(), 0);
  assert.equal(w.rate(), 0);
  for (let i = 1; i <= 100; i++) w.record(i); // 1..100 ms
  clock.t += 500;
  // Before the first rotate: the interval in progress.
  assert.equal(w.count(), 100);
  assert.equal(w.rate(), 200);
  w.rotate();
  w.record(5000); // belongs to the next interval
  assert.equal(w.count(), 100);
  assert.equal(w.rate(), 200);
  const p95 = w.p95();
  assert.ok(p95 >= 95 && p95 <= 95 * 1.05, `p95 ${p95}`);
  const p50 = w.quantile(0.5);
  assert.ok(p50 >= 50 && p50 <= 50 * 1.05, `p50 ${p50}`);
  assert.ok(w.quantile(1) >= 100 && w.quantile(1) <= 105);

  clock.t += 1000;
  w.rotate();
  assert.equal(w.count(), 1);
  assert.equal(w.rate(), 1);
  assert.ok(w.p95() >= 5000 && w.p95() <= 5250);

  clock.t += 1000;
  w.rotate();
  assert.equal(w.count(), 0);
  assert.equal(w.p95(), 0);
  assert.equal(w.rate(), 0);
});

void test('tiny, huge and invalid values are clamped, never throw', () => {
  const clock = { t: 0 };
  const w = new LatencyWindow({ now: () => clock.t });
  for (const v of [0, -5, Number.NaN, 0.001, 1e9, Infinity]) w.record(v);
  clock.t = 1000;
  w.rotate();
  assert.equal(w.count(), 6);
  assert.equal(w.quantile(0.1), 0.01);
  assert.equal(w.quantile(1), 600_000);
});
