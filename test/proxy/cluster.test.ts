// Cluster mode (`workers: 2`): two node:cluster workers, each a full proxy on the shared port.
// Affinity holds whichever worker serves a request (the rings are identical), a backend added to
// the store is reachable within a second, every worker's region report reaches the store under
// `<reporterId>/w<n>`, metrics aggregate over the workers, and close sends final reports.
import assert from 'node:assert/strict';
import cluster, { type Worker } from 'node:cluster';
import { get } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { HashRing } from '../../src/core/ring.js';
import { MemoryStateStore } from '../../src/storage/memory/state-store.js';
import { startBackend, startBackends, type TestBackend, type TestProxy } from '../helpers/backends.js';
import { startTestProxy } from '../helpers/backends.js';
import { waitFor } from '../helpers/wait.js';
import { assertWorkersRunWith } from '../helpers/cluster-workers.js';

const COOKIE = 'meridian_affinity';

/** One request on a fresh connection (so node:cluster hands each to the next worker in turn). */
function freshRequest(url: string, cookie: string): Promise<{ status: number; backend: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false, headers: { cookie: `${COOKIE}=${cookie}` } }, (res) => {
      res.resume();
      res.on('end', () => {
        const backend = res.headers['x-backend'];
        resolve({ status: res.statusCode ?? 0, backend: typeof backend === 'string' ? backend : '' });
      });
      res.on('error', reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

void describe('proxy cluster mode (2 workers)', () => {
  let store: MemoryStateStore;
  let backends: TestBackend[] = [];
  let proxy: TestProxy | undefined;

  before(async () => {
    store = new MemoryStateStore();
    await store.start();
    await store.createRegion({ id: 'r1', lat: 50, lon: 8, ipv4: ['127.0.0.1'] });
    backends = await startBackends(3, 'c');
    for (const b of backends) await store.createBackend('r1', { id: b.id, url: b.url, weight: 100 });
    proxy = await startTestProxy({ store, region: 'r1', reporterId: 'px', config: { workers: 2 } });
  });

  after(async () => {
    await proxy?.close();
    await Promise.all(backends.map((b) => b.close()));
    await store?.close();
  });

  void it('runs the workers with single-threaded GC (the V8 flag on their command line)', () => {
    assertWorkersRunWith('--single-threaded-gc', 2);
  });

  void it('serves on one real port from both workers, with affinity whichever worker answers and metrics summed', async () => {
    assert.ok(proxy !== undefined);
    assert.equal(proxy.proxy.clustered, true);
    assert.ok(proxy.port > 0, 'a real port, not 0');
    // The ring the workers build is the one anybody builds from the same backend ids.
    const ring = HashRing.build(backends.map((b) => ({ id: b.id, weight: 100 })));
    const sessions = Array.from({ length: 12 }, (_, i) => `cluster-session-${i}`);
    for (const session of sessions) {
      const expected = ring.lookupId(session);
      for (let i = 0; i < 8; i++) {
        const res = await freshRequest(`${proxy.url}/x?i=${i}`, session);
        assert.equal(res.status, 200);
        assert.equal(res.backend, expected, `session ${session} request ${i}`);
      }
    }
    // Each worker has its own pools: sequential requests reuse one connection per pool, so more
    // connections than one per backend means more than one worker forwarded.
    const connections = backends.reduce((n, b) => n + b.clientPorts.size, 0);
    assert.ok(
      connections > backends.length,
      `expected both workers to forward (connections: ${connections})`,
    );
    // Metrics aggregate over the workers.
    const metrics = await proxy.proxy.proxyMetrics();
    const served = [...metrics.matchAll(/^meridian_proxy_requests_total\{[^}]*\} (\d+)$/gm)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );
    assert.ok(served >= 12 * 8, `requests counted over both workers: ${served}`);
  });

  void it('reaches a backend added to the store within a second', async () => {
    assert.ok(proxy !== undefined);
    const added = await startBackend('c4');
    backends.push(added);
    const ids = [...backends.map((b) => b.id)];
    const ring = HashRing.build(ids.map((id) => ({ id, weight: 100 })));
    const session = Array.from({ length: 500 }, (_, i) => `moved-${i}`).find(
      (k) => ring.lookupId(k) === 'c4',
    );
    assert.ok(session !== undefined);
    const url = `${proxy.url}/`;
    await store.createBackend('r1', { id: 'c4', url: added.url, weight: 100 });
    const addedAt = Date.now();
    // Both workers: consecutive fresh connections alternate between them.
    let streak = 0;
    await waitFor(
      'the new backend from both workers',
      async () => {
        const res = await freshRequest(url, session);
        streak = res.backend === 'c4' ? streak + 1 : 0;
        return streak >= 4;
      },
      { timeoutMs: 1000 },
    );
    assert.ok(Date.now() - addedAt <= 1500);
  });

  void it('replaces a worker that dies, on the same port', async () => {
    assert.ok(proxy !== undefined);
    const before = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined && !w.isDead());
    assert.equal(before.length, 2);
    const victim = before[0];
    assert.ok(victim !== undefined);
    let replacement: Worker | undefined;
    const onListening = (w: Worker): void => {
      if (!before.includes(w)) replacement = w;
    };
    cluster.on('listening', onListening);
    try {
      victim.process.kill('SIGKILL');
      await waitFor('a replacement worker listening', () => replacement !== undefined);
    } finally {
      cluster.off('listening', onListening);
    }
    // The replacement serves (fresh connections alternate between the two workers).
    for (let i = 0; i < 6; i++)
      assert.equal((await freshRequest(`${proxy.url}/`, 'after-restart')).status, 200);
  });

  void it("writes each worker's region report to the store, and reports 0 on close", async () => {
    assert.ok(proxy !== undefined);
    await waitFor('both workers to report 4 healthy backends', () => {
      const reports = store.current().health.get('r1');
      return ['px/w1', 'px/w2'].every((id) => reports?.get(id)?.healthyBackends === 4);
    });
    const report = store.current().health.get('r1')?.get('px/w1');
    assert.equal(report?.totalBackends, 4);
    assert.deepEqual(
      proxy.proxy
        .backendStates()
        .map((s) => [s.backendId, s.healthy])
        .sort(),
      [
        ['c1', true],
        ['c2', true],
        ['c3', true],
        ['c4', true],
      ],
    );
    await proxy.close(2000);
    const reports = store.current().health.get('r1');
    assert.equal(reports?.get('px/w1')?.healthyBackends, 0);
    assert.equal(reports?.get('px/w2')?.healthyBackends, 0);
    await assert.rejects(freshRequest(`${proxy.url}/`, 'after-close'));
  });
});
