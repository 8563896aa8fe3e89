import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Backend } from '../../../src/core/types.js';
import { BackendHealthTracker } from '../../../src/proxy/health/tracker.js';
import { healthCheckSchema, outlierSchema } from '../../../src/config/health-schema.js';
import { trickle } from '../../helpers/trickle.js';
import { waitFor } from '../../helpers/wait.js';

/**
 * A backend whose /healthz answers `status`; never answers when `hang` is set; with `trickle`,
 * sends its headers at once and then a byte every 50 ms for 1.5 s.
 */
interface FakeBackend {
  server: Server;
  url: string;
  status: number;
  hang: boolean;
  trickle: boolean;
  checks: number;
}

async function startBackend(): Promise<FakeBackend> {
  const fake: FakeBackend = {
    server: createServer(),
    url: '',
    status: 200,
    hang: false,
    trickle: false,
    checks: 0,
  };
  fake.server.on('request', (req, res) => {
    if (req.url !== '/healthz') {
      res.writeHead(404).end();
      return;
    }
    fake.checks++;
    if (fake.hang) return; // never answers
    if (fake.trickle) {
      trickle(res, fake.status, 30, 50);
      return;
    }
    res.writeHead(fake.status, { 'content-type': 'text/plain' }).end('ok');
  });
  await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
  return fake;
}

async function stopBackend(fake: FakeBackend): Promise<void> {
  fake.server.closeAllConnections();
  await new Promise<void>((resolve) => fake.server.close(() => resolve()));
}

function backend(id: string, url: string, state: Backend['state'] = 'active'): Backend {
  return { id, regionId: 'r1', url, weight: 100, state, createdAt: '', updatedAt: '' };
}

// Generous timeout: a loaded CI machine must not fail a loopback check by accident.
const fastCheck = healthCheckSchema.parse({ intervalMs: 40, timeoutMs: 1000, rise: 2, fall: 3, jitter: 0.1 });
const fastTimeoutCheck = { ...fastCheck, timeoutMs: 150 };

void describe('active checks', () => {
  const fakes: FakeBackend[] = [];
  const trackers: BackendHealthTracker[] = [];
  before(async () => {
    for (let i = 0; i < 3; i++) fakes.push(await startBackend());
  });
  after(async () => {
    for (const t of trackers) t.close();
    await Promise.all(fakes.map(stopBackend));
  });

  void test('a backend that starts failing goes down after `fall` checks and back up after `rise`', async () => {
    const fake = fakes[0] as FakeBackend;
    const changes: [string, boolean, string][] = [];
    const tracker = new BackendHealthTracker({
      check: fastCheck,
      outlier: outlierSchema.parse({}),
      onChange: (id, healthy, reason) => changes.push([id, healthy, reason]),
    });
    trackers.push(tracker);
    tracker.setBackends([backend('b1', fake.url)]);
    assert.equal(tracker.isHealthy('b1'), true, 'a new backend is up before its first check');
    await waitFor('a few passing checks', () => fake.checks >= 3, { timeoutMs: 5000 });
    assert.equal(tracker.isHealthy('b1'), true);
    assert.deepEqual(tracker.states(), [{ backendId: 'b1', healthy: true }]);

    fake.status = 503;
    const checksAtFailure = fake.checks;
    await waitFor('b1 down', () => !tracker.isHealthy('b1'), { timeoutMs: 5000 });
    // The check in flight when the status changed may already have passed; at least `fall` failed after.
    assert.ok(fake.checks - checksAtFailure >= 3, `down after ${fake.checks - checksAtFailure} checks`);
    assert.deepEqual(tracker.states(), [
      { backendId: 'b1', healthy: false, reason: 'active check failed 3x: status 503' },
    ]);
    assert.deepEqual(changes, [['b1', false, 'active check failed 3x: status 503']]);

    fake.status = 204;
    const checksAtRecovery = fake.checks;
    await waitFor('b1 up', () => tracker.isHealthy('b1'), { timeoutMs: 5000 });
    assert.ok(fake.checks - checksAtRecovery >= 2, `up after ${fake.checks - checksAtRecovery} checks`);
    assert.deepEqual(changes[1], ['b1', true, 'active check passed 2x']);
    assert.equal(tracker.counts().healthy, 1);
  });

  void test('a check whose body trickles past timeoutMs fails on the whole-check deadline', async () => {
    // Each gap (50 ms) is shorter than timeoutMs (150 ms), so undici's body timeout never fires.
    const fake = fakes[2] as FakeBackend;
    fake.trickle = true;
    const tracker = new BackendHealthTracker({ check: fastTimeoutCheck, outlier: outlierSchema.parse({}) });
    trackers.push(tracker);
    try {
      const started = performance.now();
      tracker.setBackends([backend('trickle', fake.url)]);
      await waitFor('trickle down', () => !tracker.isHealthy('trickle'), { timeoutMs: 5000 });
      assert.ok(performance.now() - started < 1400, 'the check ended before the body did');
      assert.deepEqual(tracker.states(), [
        { backendId: 'trickle', healthy: false, reason: 'active check failed 1x: timeout after 150ms' },
      ]);
    } finally {
      tracker.close(); // fakes[2] is counted by a later test
      fake.trickle = false;
    }
  });

  void test('timeouts count as failures; a first failed check takes a new backend down at once', async () => {
    const fake = fakes[1] as FakeBackend;
    fake.hang = true;
    const tracker = new BackendHealthTracker({ check: fastTimeoutCheck, outlier: outlierSchema.parse({}) });
    trackers.push(tracker);
    tracker.setBackends([backend('slow', fake.url)]);
    await waitFor('slow down', () => !tracker.isHealthy('slow'), { timeoutMs: 5000 });
    assert.deepEqual(tracker.states(), [
      { backendId: 'slow', healthy: false, reason: 'active check failed 1x: timeout after 150ms' },
    ]);
    await waitFor(
      'more timeouts',
      () => (tracker.states()[0]?.reason ?? '').startsWith('active check failed 3x'),
      { timeoutMs: 5000 },
    );
    fake.hang = false;
    await waitFor('slow up', () => tracker.isHealthy('slow'), { timeoutMs: 5000 });
  });

  void test('connection refused is reported as such', async () => {
    const closed = await startBackend();
    const url = closed.url;
    await stopBackend(closed);
    const tracker = new BackendHealthTracker({ check: fastCheck, outlier: outlierSchema.parse({}) });
    trackers.push(tracker);
    tracker.setBackends([backend('gone', url)]);
    await waitFor('gone down', () => !tracker.isHealthy('gone'), { timeoutMs: 5000 });
    assert.match(tracker.states()[0]?.reason ?? '', /^active check failed \dx: connect ECONNREFUSED$/);
  });

  void test('removed backends stop being checked; disabled ones are never checked; draining is reported', async () => {
    const fake = fakes[2] as FakeBackend;
    const tracker = new BackendHealthTracker({ check: fastCheck, outlier: outlierSchema.parse({}) });
    trackers.push(tracker);
    tracker.setBackends([backend('x', fake.url), backend('y', fake.url, 'disabled')]);
    await waitFor('checks of x', () => fake.checks >= 2, { timeoutMs: 5000 });
    assert.equal(tracker.isHealthy('y'), false);
    tracker.setBackends([backend('x', fake.url, 'draining'), backend('y', fake.url, 'disabled')]);
    assert.equal(tracker.isHealthy('x'), true, 'draining backends keep their real health');
    assert.deepEqual(tracker.states(), [
      { backendId: 'x', healthy: false, reason: 'draining' },
      { backendId: 'y', healthy: false, reason: 'disabled' },
    ]);
    assert.deepEqual(tracker.counts(), { healthy: 0, total: 2 });

    tracker.setBackends([]);
    // Proving an absence needs a wait: let a check that was already on the wire land, then watch
    // for several intervals.
    await new Promise((r) => setTimeout(r, 300));
    const checks = fake.checks;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(fake.checks, checks, 'no checks after removal');
    assert.deepEqual(tracker.states(), []);
    assert.equal(tracker.isHealthy('x'), false);
  });
});

void describe('passive outlier ejection', () => {
  let fake: FakeBackend;
  const trackers: BackendHealthTracker[] = [];
  before(async () => {
    fake = await startBackend();
  });
  after(async () => {
    for (const t of trackers) t.close();
    await stopBackend(fake);
  });

  // Slow active checks: these tests drive passive signals with a fake clock.
  const slowCheck = healthCheckSchema.parse({ intervalMs: 60_000, jitter: 0 });

  function setup(n: number, now: { t: number }): BackendHealthTracker {
    const tracker = new BackendHealthTracker({
      check: slowCheck,
      outlier: outlierSchema.parse({ consecutiveFailures: 5, baseEjectionMs: 10_000, maxEjectionMs: 35_000 }),
      now: () => now.t,
    });
    trackers.push(tracker);
    tracker.setBackends(Array.from({ length: n }, (_, i) => backend(`b${i}`, fake.url)));
    return tracker;
  }
  const fail = (t: BackendHealthTracker, id: string, n: number, status = 502): void => {
    for (let i = 0; i < n; i++) t.recordResult(id, { ok: false, status });
  };

  void test('consecutive failures eject with growing, capped back-off; success resets the streak', () => {
    const now = { t: 1_000_000 };
    const tracker = setup(4, now);
    fail(tracker, 'b0', 4);
    tracker.recordResult('b0', { ok: true, status: 200 });
    fail(tracker, 'b0', 4);
    assert.equal(tracker.isHealthy('b0'), true, 'a success resets the count');
    fail(tracker, 'b0', 1);
    assert.equal(tracker.isHealthy('b0'), false);
    assert.equal(tracker.states()[0]?.reason, 'ejected 10s (5 consecutive 5xx)');

    now.t += 9_999;
    assert.equal(tracker.isHealthy('b0'), false);
    fail(tracker, 'b0', 10); // results while ejected are ignored
    now.t += 1;
    assert.equal(tracker.isHealthy('b0'), true);

    fail(tracker, 'b0', 5);
    assert.equal(tracker.states()[0]?.reason, 'ejected 20s (5 consecutive 5xx)');
    now.t += 20_000;
    tracker.recordResult('b0', { ok: false, error: 'connect ECONNREFUSED' });
    fail(tracker, 'b0', 4);
    assert.equal(tracker.states()[0]?.reason, 'ejected 35s (5 consecutive failures, last: status 502)');
    now.t += 35_000;
    assert.equal(tracker.isHealthy('b0'), true);

    // A long quiet period decays the multiplier back to the base duration.
    now.t += 60_000;
    fail(tracker, 'b0', 5);
    assert.equal(tracker.states()[0]?.reason, 'ejected 10s (5 consecutive 5xx)');
  });

  void test('never more than maxEjectedPercent of the backends are ejected at once', () => {
    const now = { t: 5_000_000 };
    const tracker = setup(4, now); // 50 % of 4 = 2
    for (const id of ['b0', 'b1', 'b2']) fail(tracker, id, 5);
    assert.deepEqual(
      ['b0', 'b1', 'b2', 'b3'].map((id) => tracker.isHealthy(id)),
      [false, false, true, true],
    );
    now.t += 10_000; // b0 and b1 return; b2's next failure can now eject it
    fail(tracker, 'b2', 1);
    assert.equal(tracker.isHealthy('b2'), false);
    assert.equal(tracker.counts().healthy, 3);
  });

  void test('a single backend can still be ejected (at least one slot)', () => {
    const now = { t: 9_000_000 };
    const tracker = setup(1, now);
    fail(tracker, 'b0', 5, 503);
    assert.equal(tracker.isHealthy('b0'), false);
  });

  void test('ejection ends on time and is announced', async () => {
    const changes: [string, boolean, string][] = [];
    const tracker = new BackendHealthTracker({
      check: slowCheck,
      outlier: outlierSchema.parse({ consecutiveFailures: 2, baseEjectionMs: 100, maxEjectionMs: 1000 }),
      onChange: (id, healthy, reason) => changes.push([id, healthy, reason]),
    });
    trackers.push(tracker);
    tracker.setBackends([backend('e', fake.url)]);
    tracker.recordResult('e', { ok: false, error: 'connect ECONNRESET' });
    tracker.recordResult('e', { ok: false, error: 'connect ECONNRESET' });
    assert.equal(tracker.isHealthy('e'), false);
    await waitFor('ejection end', () => changes.length === 2, { timeoutMs: 5000 });
    assert.equal(tracker.isHealthy('e'), true);
    assert.deepEqual(changes, [
      ['e', false, 'ejected 100ms (2 consecutive failures, last: connect ECONNRESET)'],
      ['e', true, 'ejection ended'],
    ]);
  });

  void test('an ejection timer that fires before the clock reaches its end still announces the end', async () => {
    // Timers run on a monotonic clock that can run ahead of the wall clock (by
    // a millisecond in CI); here the tracker's clock runs at half speed, so
    // the first timer fires well before the ejection is over by that clock.
    const start = Date.now();
    const changes: boolean[] = [];
    const tracker = new BackendHealthTracker({
      check: slowCheck,
      outlier: outlierSchema.parse({ consecutiveFailures: 1, baseEjectionMs: 50, maxEjectionMs: 1000 }),
      onChange: (_id, healthy) => changes.push(healthy),
      now: () => start + (Date.now() - start) / 2,
    });
    trackers.push(tracker);
    tracker.setBackends([backend('early', fake.url)]);
    tracker.recordResult('early', { ok: false, error: 'connect ECONNRESET' });
    await waitFor('ejection end after an early timer', () => changes.length === 2, { timeoutMs: 3000 });
    assert.deepEqual(changes, [false, true]);
    assert.equal(tracker.isHealthy('early'), true);
  });
});
