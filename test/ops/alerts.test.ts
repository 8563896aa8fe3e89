// AlertManager against a real MemoryStateStore: region and backend health transitions (including
// expiry without any change event), flap detection, geo reload failures, Redis reachability.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { AlertManager } from '../../src/ops/alerts.js';
import { MemoryOpsRecordStore } from '../../src/storage/memory/ops-record-store.js';
import type { AlertRecord, AlertType } from '../../src/storage/ops-record-store.js';
import { MemoryStateStore } from '../../src/storage/memory/state-store.js';
import type { StoreStatus } from '../../src/storage/state-store.js';
import { Clock, regionInput, report, sleep } from './fixtures.js';
import { waitFor } from '../helpers/wait.js';

interface Rig {
  clock: Clock;
  store: MemoryStateStore;
  records: MemoryOpsRecordStore;
  manager: AlertManager;
  sent: AlertRecord[];
}

const rigs: Rig[] = [];

afterEach(async () => {
  for (const r of rigs.splice(0)) {
    await r.manager.close();
    await r.store.close();
    await r.records.close();
  }
});

async function rig(
  options: { transitions?: number; windowSeconds?: number; status?: () => StoreStatus } = {},
): Promise<Rig> {
  const clock = new Clock();
  const store = new MemoryStateStore({ now: clock.now });
  await store.start();
  const records = new MemoryOpsRecordStore({ clock: clock.now });
  await records.start();
  const sent: AlertRecord[] = [];
  const status = options.status;
  const watched =
    status === undefined
      ? store
      : { current: () => store.current(), onChange: store.onChange.bind(store), status };
  const manager = new AlertManager({
    store: watched,
    records,
    nodeId: 'node-a',
    webhooks: { send: (a) => sent.push(a) },
    flap: { transitions: options.transitions ?? 10, windowSeconds: options.windowSeconds ?? 300 },
    clock: clock.now,
    tickMs: 20,
    redisUnreachableAfterMs: 100,
  });
  const r = { clock, store, records, manager, sent };
  rigs.push(r);
  return r;
}

async function alerts(r: Rig, type?: AlertType): Promise<AlertRecord[]> {
  await r.manager.idle();
  const page = await r.records.query('alert', { order: 'asc', ...(type === undefined ? {} : { type }) });
  return page.items;
}

async function waitAlerts(r: Rig, type: AlertType, count: number): Promise<AlertRecord[]> {
  return waitFor(
    `${count} ${type} alert(s)`,
    async () => {
      const got = await alerts(r, type);
      return got.length >= count ? got : undefined;
    },
    { timeoutMs: 5000 },
  );
}

void describe('AlertManager: region health', () => {
  void it('alerts when a region goes down, comes back, and goes silent (report expiry, no change event)', async () => {
    const r = await rig();
    await r.store.createRegion(regionInput('eu-west'));
    await r.store.reportHealth(report('eu-west', r.clock.t, true));
    r.manager.start();
    await sleep(60);
    assert.deepEqual(await alerts(r), [], 'the state at start is the baseline: no alert');

    r.clock.advance(6000);
    await r.store.reportHealth(report('eu-west', r.clock.t, false));
    const [down] = await waitAlerts(r, 'region_health', 1);
    assert.equal(down?.level, 'critical');
    assert.equal(down?.subject, 'region/eu-west');
    assert.equal(down?.node, 'node-a');
    assert.match(down?.message ?? '', /region eu-west is down \(0\/2 backends healthy/);

    r.clock.advance(6000);
    await r.store.reportHealth(report('eu-west', r.clock.t, true));
    const [, up] = await waitAlerts(r, 'region_health', 2);
    assert.equal(up?.level, 'info');
    assert.match(up?.message ?? '', /is up again/);

    // No more reports: once the last one expires, the 1 s re-evaluation (20 ms here) notices.
    r.clock.advance(10_001);
    const [, , silent] = await waitAlerts(r, 'region_health', 3);
    assert.equal(silent?.level, 'critical');
    assert.match(silent?.message ?? '', /every health report has expired/);

    assert.deepEqual(
      r.sent.map((a) => a.id),
      (await alerts(r)).map((a) => a.id),
      'each recorded alert went to the sink once',
    );
    await sleep(60);
    assert.equal((await alerts(r)).length, 3, 'no repeats while nothing changes');
  });

  void it('a drained region going down is a warning; an unmonitored region is not alerted', async () => {
    const r = await rig();
    await r.store.createRegion(regionInput('ap-south', { state: 'draining' }));
    await r.store.createRegion(regionInput('us-east'));
    r.manager.start();
    await r.store.reportHealth(report('ap-south', r.clock.t, false));
    const [a] = await waitAlerts(r, 'region_health', 1);
    assert.equal(a?.level, 'warning');
    assert.equal(a?.subject, 'region/ap-south');
    await sleep(60);
    assert.equal((await alerts(r)).length, 1);
  });

  void it('alerts on backend health changes with the reporter reason', async () => {
    const r = await rig();
    await r.store.createRegion(regionInput('eu-west'));
    r.manager.start();
    await r.store.reportHealth(
      report('eu-west', r.clock.t, true, {
        healthyBackends: 1,
        backends: [
          { backendId: 'web-1', healthy: true },
          { backendId: 'web-2', healthy: false, reason: 'connect ECONNREFUSED' },
        ],
      }),
    );
    const [b] = await waitAlerts(r, 'backend_health', 1);
    assert.equal(b?.subject, 'backend/eu-west/web-2');
    assert.equal(b?.level, 'warning');
    assert.match(b?.message ?? '', /ECONNREFUSED/);

    r.clock.advance(6000);
    await r.store.reportHealth(
      report('eu-west', r.clock.t, true, {
        backends: [
          { backendId: 'web-1', healthy: true },
          { backendId: 'web-2', healthy: true },
        ],
      }),
    );
    const [, again] = await waitAlerts(r, 'backend_health', 2);
    assert.equal(again?.level, 'info');
    assert.match(again?.message ?? '', /web-2 in region eu-west is healthy again/);
    assert.equal((await alerts(r, 'region_health')).length, 0);
  });
});

void describe('AlertManager: flapping', () => {
  void it('raises one health_flap alert after N transitions in the window, then stays quiet until it is stable', async () => {
    const r = await rig({ transitions: 4, windowSeconds: 300 });
    await r.store.createRegion(regionInput('eu-west'));
    await r.store.reportHealth(report('eu-west', r.clock.t, true));
    r.manager.start();
    let healthy = true;
    for (let i = 0; i < 10; i++) {
      healthy = !healthy;
      r.clock.advance(6000);
      await r.store.reportHealth(report('eu-west', r.clock.t, healthy));
      await waitFor('the manager to see the change', () => r.manager['regions'].get('eu-west') === healthy, {
        timeoutMs: 5000,
      });
    }
    await r.manager.idle();
    const health = await alerts(r, 'region_health');
    const flaps = await alerts(r, 'health_flap');
    assert.equal(health.length, 3, 'the first three transitions are alerted');
    assert.equal(flaps.length, 1, 'the fourth raises one flap alert, later ones nothing');
    assert.equal(flaps[0]?.subject, 'region/eu-west');
    assert.equal(flaps[0]?.level, 'warning');

    // Stable for a whole window: one alert with the state it settled in (healthy after 10 flips).
    r.clock.advance(300_001);
    await r.store.reportHealth(report('eu-west', r.clock.t, healthy));
    const settled = await waitAlerts(r, 'region_health', 4);
    assert.match(settled[3]?.message ?? '', /stopped flapping and is up/);
    assert.equal(settled[3]?.level, 'info');

    // And ordinary alerting is back.
    r.clock.advance(6000);
    await r.store.reportHealth(report('eu-west', r.clock.t, false));
    const after = await waitAlerts(r, 'region_health', 5);
    assert.match(after[4]?.message ?? '', /is down/);
    assert.equal((await alerts(r, 'health_flap')).length, 1);
  });
});

void describe('AlertManager: geo DB and Redis', () => {
  void it('records a geo reload failure once per minute per file', async () => {
    const r = await rig();
    r.manager.start();
    r.manager.geoReloadFailed('/data/geo.mmdb', new Error('Unknown type 13 at offset 42'));
    r.manager.geoReloadFailed('/data/geo.mmdb', new Error('Unknown type 13 at offset 42'));
    const [g] = await waitAlerts(r, 'geo_reload_failed', 1);
    assert.equal(g?.subject, '/data/geo.mmdb');
    assert.match(g?.message ?? '', /still serving the previous one.*offset 42/);
    assert.equal((await alerts(r, 'geo_reload_failed')).length, 1);
    r.clock.advance(61_000);
    r.manager.geoReloadFailed('/data/geo.mmdb', new Error('again'));
    await waitAlerts(r, 'geo_reload_failed', 2);
  });

  void it('records a dead worker (warning) and a failed restart (critical), each once a minute per tier', async () => {
    const r = await rig();
    r.manager.start();
    const died = { tier: 'proxy', worker: 2, what: 'died', reason: 'signal SIGKILL' } as const;
    r.manager.workerTrouble(died);
    r.manager.workerTrouble({ ...died, worker: 1 }); // a crash loop across slots: still one a minute
    r.manager.workerTrouble({ ...died, tier: 'DNS', reason: 'exit code 1' });
    const deaths = await waitAlerts(r, 'worker_died', 2);
    const proxy = deaths.find((a) => a.subject === 'worker/proxy/2');
    assert.equal(proxy?.level, 'warning');
    assert.match(
      proxy?.message ?? '',
      /^proxy worker 2 on node \S+ died \(signal SIGKILL\); a new one is starting$/,
    );
    assert.match(
      deaths.find((a) => a.subject === 'worker/dns/2')?.message ?? '',
      /^DNS worker 2 .*\(exit code 1\)/,
    );

    const failed = {
      tier: 'proxy',
      worker: 2,
      what: 'restart-failed',
      reason: 'no port',
      retryMs: 5000,
    } as const;
    r.manager.workerTrouble(failed);
    r.manager.workerTrouble(failed);
    const [f] = await waitAlerts(r, 'worker_restart_failed', 1);
    assert.equal(f?.level, 'critical');
    assert.match(f?.message ?? '', /could not be restarted \(no port\); tried again every 5 s$/);
    assert.equal((await alerts(r, 'worker_restart_failed')).length, 1);
    assert.equal((await alerts(r, 'worker_died')).length, 2);

    r.clock.advance(61_000);
    r.manager.workerTrouble(died);
    await waitAlerts(r, 'worker_died', 3);
  });

  void it('alerts when Redis stays unreachable and when it recovers', async () => {
    let connected = true;
    const status = (): StoreStatus => ({
      kind: 'redis',
      connected,
      snapshotAgeMs: 0,
      resyncs: 0,
      changeFeedLagMs: 0,
    });
    const r = await rig({ status });
    r.manager.start();
    connected = false;
    await sleep(40);
    connected = true; // a blip shorter than redisUnreachableAfterMs: nothing
    await sleep(60);
    assert.equal((await alerts(r)).length, 0);

    connected = false;
    await sleep(40);
    r.clock.advance(150);
    const [down] = await waitAlerts(r, 'redis_unreachable', 1);
    assert.equal(down?.level, 'critical');
    assert.equal(down?.subject, 'node-a');
    connected = true;
    const [up] = await waitAlerts(r, 'redis_recovered', 1);
    assert.equal(up?.level, 'info');
    await sleep(60);
    assert.equal((await alerts(r)).length, 2);
  });
});
