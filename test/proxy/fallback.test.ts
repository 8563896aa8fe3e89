// Cross-region fallback with two real proxies sharing a store: region A, whose only backend is
// dead, forwards to region B's proxy; a request already forwarded once is never forwarded again.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { evaluateRegionHealth } from '../../src/core/health.js';
import { MemoryStateStore } from '../../src/storage/memory/state-store.js';
import {
  closedPort,
  httpRequest,
  startBackend,
  startTestProxy,
  type TestBackend,
  type TestProxy,
} from '../helpers/backends.js';
import { waitFor } from '../helpers/wait.js';

void describe('cross-region fallback', () => {
  let store: MemoryStateStore;
  let backendB: TestBackend;
  let proxyA: TestProxy;
  let proxyB: TestProxy;

  before(async () => {
    store = new MemoryStateStore();
    await store.start();
    await store.createRegion({ id: 'a', lat: 50.1, lon: 8.7, ipv4: ['127.0.0.1'] }); // Frankfurt
    await store.createRegion({ id: 'b', lat: 48.9, lon: 2.4, ipv4: ['127.0.0.1'] }); // Paris
    await store.createRegion({ id: 'c', lat: 1.3, lon: 103.8, ipv4: ['127.0.0.2'] }); // Singapore, never healthy
    await store.createBackend('a', {
      id: 'a-dead',
      url: `http://127.0.0.1:${await closedPort()}`,
      weight: 100,
    });
    backendB = await startBackend('b-live');
    await store.createBackend('b', { id: 'b-live', url: backendB.url, weight: 100 });
    proxyB = await startTestProxy({ store, region: 'b' });
    await store.updateRegion('b', { labels: { 'proxy-port': String(proxyB.port) } });
    proxyA = await startTestProxy({ store, region: 'a', config: { crossRegionFallback: true } });
  });

  after(async () => {
    await proxyA?.close();
    await proxyB?.close();
    await backendB?.close();
    await store?.close();
  });

  void it('forwards to the nearest healthy region when no local backend is healthy', async () => {
    await waitFor('region a to have no healthy backend', () =>
      proxyA.proxy.backendStates().every((s) => !s.healthy),
    );
    await waitFor(
      'region b to report healthy',
      () => evaluateRegionHealth(store.current().health.get('b'), Date.now()).status === 'healthy',
    );
    const res = await httpRequest(`${proxyA.url}/via-a`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['x-backend'], 'b-live');
    assert.equal(res.headers['x-meridian-fallback'], 'b', 'the client learns which region answered');
    assert.equal(
      backendB.lastHeaders?.['x-meridian-fallback'],
      'a',
      'region b knows the request came from a',
    );
  });

  void it('never forwards a request that already carries the fallback header', async () => {
    const res = await httpRequest(`${proxyA.url}/loop`, { headers: { 'x-meridian-fallback': 'z' } });
    assert.equal(res.status, 503);
    const body = JSON.parse(res.text) as { error: { code: string; requestId: string } };
    assert.equal(body.error.code, 'E_FALLBACK_EXHAUSTED');
    assert.equal(res.headers['x-request-id'], body.error.requestId);
  });
});
