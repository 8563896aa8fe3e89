// Region health in a real Redis-backed store (seen by another node, as the DNS tier would) and
// graceful shutdown: in-flight requests finish, the final report says "nothing healthy", the
// report expires, and the proxy no longer counts as a running worker.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { evaluateRegionHealth } from '../../src/core/health.js';
import { RedisStateStore } from '../../src/storage/redis/state-store.js';
import {
  httpRequest,
  startBackends,
  startTestProxy,
  type TestBackend,
  type TestProxy,
} from '../helpers/backends.js';
import { startRedis, type RedisHandle } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';

void describe('proxy region health in Redis and graceful close', () => {
  let redis: RedisHandle;
  let proxyStore: RedisStateStore;
  let dnsView: RedisStateStore;
  let backends: TestBackend[];
  let proxy: TestProxy;

  before(async () => {
    redis = await startRedis();
    const redisConfig = configSchema.parse({
      state: { backend: 'redis', redis: { url: redis.url, keyPrefix: 'proxytest:' } },
    }).state.redis;
    proxyStore = new RedisStateStore({ redis: redisConfig, nodeId: 'proxy-node' });
    dnsView = new RedisStateStore({ redis: redisConfig, nodeId: 'dns-node' });
    await proxyStore.start();
    await dnsView.start();
    await proxyStore.createRegion({ id: 'eu', lat: 50, lon: 8, ipv4: ['127.0.0.1'] });
    backends = await startBackends(2, 'e');
    for (const b of backends) await proxyStore.createBackend('eu', { id: b.id, url: b.url, weight: 100 });
    proxy = await startTestProxy({ store: proxyStore, region: 'eu', reporterId: 'proxy-eu-1' });
  });

  after(async () => {
    await proxy?.close();
    await Promise.all((backends ?? []).map((b) => b.close()));
    await proxyStore?.close();
    await dnsView?.close();
    await redis?.stop();
  });

  void it('reports region health that another node reads from Redis', async () => {
    await waitFor('a health report from the proxy', () => {
      const report = dnsView.current().health.get('eu')?.get('proxy-eu-1');
      return report !== undefined && report.healthyBackends === 2 && report.totalBackends === 2;
    });
    const report = dnsView.current().health.get('eu')?.get('proxy-eu-1');
    assert.ok(report !== undefined);
    assert.deepEqual(
      report.backends?.map((b) => [b.backendId, b.healthy]),
      [
        ['e1', true],
        ['e2', true],
      ],
    );
    assert.ok(report.expiresAt > report.reportedAt);
    assert.equal(evaluateRegionHealth(dnsView.current().health.get('eu'), Date.now()).status, 'healthy');
    // The report follows the backends: one failing is seen within a few intervals.
    (backends[0] as TestBackend).failing = true;
    await waitFor(
      'the failing backend in the report',
      () => dnsView.current().health.get('eu')?.get('proxy-eu-1')?.healthyBackends === 1,
    );
    (backends[0] as TestBackend).failing = false;
    await waitFor(
      'recovery in the report',
      () => dnsView.current().health.get('eu')?.get('proxy-eu-1')?.healthyBackends === 2,
    );
  });

  void it('lets an in-flight request finish on close, then reports nothing healthy and expires', async () => {
    // A proxy answering in this process counts as the tier's one worker while it serves.
    assert.match(await proxy.registry.metrics(), /^meridian_cluster_workers\{tier="proxy"\} 1$/m);
    const slow = httpRequest(`${proxy.url}/slow?ms=700`);
    await waitFor('the slow request to be in flight', () =>
      backends.some((b) => b.lastHeaders !== undefined && b.requests > 0),
    );
    await new Promise((r) => setTimeout(r, 100));
    const closing = proxy.close(5000);
    const res = await slow;
    assert.equal(res.status, 200, 'the in-flight request completed');
    await closing;
    await assert.rejects(httpRequest(`${proxy.url}/`), 'no longer accepting');
    assert.match(await proxy.registry.metrics(), /^meridian_cluster_workers\{tier="proxy"\} 0$/m);
    const report = dnsView.current().health.get('eu')?.get('proxy-eu-1');
    await waitFor(
      'the final report',
      () => dnsView.current().health.get('eu')?.get('proxy-eu-1')?.healthyBackends === 0,
    );
    assert.ok(report !== undefined);
    assert.equal(evaluateRegionHealth(dnsView.current().health.get('eu'), Date.now()).up, false);
    await waitFor(
      'the report to expire',
      () => evaluateRegionHealth(dnsView.current().health.get('eu'), Date.now()).status === 'expired',
      { timeoutMs: 5000 },
    );
  });
});
