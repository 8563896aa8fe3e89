// Failure handling against real sockets: 502 on refused connections, 504 on slow backends, 503
// with no backend or an open circuit, retries of safe requests (statuses and a backend killed
// under load), and no retry of a request whose body was sent.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryStateStore } from '../../src/storage/memory/state-store.js';
import {
  backendFor,
  httpRequest,
  startBackend,
  startTestProxy,
  type TestBackend,
  type TestProxy,
  regionWithBackends,
} from '../helpers/backends.js';
import { waitFor } from '../helpers/wait.js';

// Active checks every minute (the first one at once), so the tests control when a backend looks down.
const QUIET_HEALTH = { health: { intervalMs: 60_000, timeoutMs: 500, jitter: 0 } };

function assertJsonError(
  res: { status: number; headers: Record<string, unknown>; text: string },
  status: number,
  code: string,
): void {
  assert.equal(res.status, status, res.text);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const body = JSON.parse(res.text) as { error: { code: string; message: string; requestId: string } };
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, 'string');
  assert.match(body.error.requestId, /^[0-9a-f-]{36}$/);
  assert.equal(res.headers['x-request-id'], body.error.requestId);
}

void describe('proxy error answers', () => {
  let store: MemoryStateStore;
  const proxies: TestProxy[] = [];
  const backends: TestBackend[] = [];

  before(async () => {
    store = new MemoryStateStore();
    await store.start();
    for (const id of ['refused', 'slow', 'empty', 'circuit']) {
      await store.createRegion({ id, lat: 0, lon: 0, ipv4: ['127.0.0.1'] });
    }
  });

  after(async () => {
    await Promise.all(proxies.map((p) => p.close()));
    await Promise.all(backends.map((b) => b.close()));
    await store?.close();
  });

  void it('answers 502 with a JSON body when the backend refuses connections', async () => {
    const b = await startBackend('gone');
    backends.push(b);
    await store.createBackend('refused', { id: 'gone', url: b.url, weight: 100 });
    const proxy = await startTestProxy({ store, region: 'refused', config: QUIET_HEALTH });
    proxies.push(proxy);
    await waitFor('first health check', () => proxy.proxy.backendStates().length === 1 && b.requests === 0);
    await new Promise((r) => setTimeout(r, 100)); // the first (passing) check has run
    b.kill(); // the proxy still believes it healthy until the next check, a minute away
    const res = await httpRequest(`${proxy.url}/any`);
    assertJsonError(res, 502, 'E_UPSTREAM_CONNECT');
  });

  void it('answers 504 when the backend sends no headers within headersMs', async () => {
    const b = await startBackend('sloth');
    backends.push(b);
    await store.createBackend('slow', { id: 'sloth', url: b.url, weight: 100 });
    const proxy = await startTestProxy({
      store,
      region: 'slow',
      config: { ...QUIET_HEALTH, timeouts: { headersMs: 300 } },
    });
    proxies.push(proxy);
    const started = Date.now();
    const res = await httpRequest(`${proxy.url}/slow?ms=3000`);
    assertJsonError(res, 504, 'E_UPSTREAM_TIMEOUT');
    assert.ok(Date.now() - started < 2500, 'the proxy gave up at headersMs, not when the backend answered');
  });

  void it('answers 503 when the region has no backend', async () => {
    const proxy = await startTestProxy({ store, region: 'empty', config: QUIET_HEALTH });
    proxies.push(proxy);
    assertJsonError(await httpRequest(`${proxy.url}/`), 503, 'E_NO_BACKEND');
    // A client-supplied request id is kept and returned.
    const res = await httpRequest(`${proxy.url}/`, { headers: { 'x-request-id': 'abc-123' } });
    assert.equal(res.headers['x-request-id'], 'abc-123');
    assert.equal((JSON.parse(res.text) as { error: { requestId: string } }).error.requestId, 'abc-123');
  });

  void it('fails fast with 503 when the backend reached circuitBreakers.maxRequests', async () => {
    const b = await startBackend('narrow');
    backends.push(b);
    await store.createBackend('circuit', { id: 'narrow', url: b.url, weight: 100 });
    const proxy = await startTestProxy({
      store,
      region: 'circuit',
      config: { ...QUIET_HEALTH, circuitBreakers: { maxRequests: 1 } },
    });
    proxies.push(proxy);
    const slow = httpRequest(`${proxy.url}/slow?ms=600`);
    await waitFor('the slow request to reach the backend', () => b.requests === 1);
    assertJsonError(await httpRequest(`${proxy.url}/`), 503, 'E_CIRCUIT_OPEN');
    assert.equal((await slow).status, 200);
    assert.equal((await httpRequest(`${proxy.url}/`)).status, 200, 'the circuit closes again');
  });
});

void describe('proxy retries', () => {
  let store: MemoryStateStore;
  let backends: TestBackend[];
  let proxy: TestProxy;

  before(async () => {
    ({ store, backends } = await regionWithBackends(2, 'rt'));
    proxy = await startTestProxy({
      store,
      region: 'r1',
      config: { ...QUIET_HEALTH, outlier: { consecutiveFailures: 0 } },
    });
  });

  after(async () => {
    await proxy?.close();
    await Promise.all((backends ?? []).map((b) => b.close()));
    await store?.close();
  });

  void it('retries a safe request on the next backend when one answers 503, but not a POST with a body', async () => {
    await new Promise((r) => setTimeout(r, 100)); // first checks passed
    const [rt1] = backends as [TestBackend, TestBackend];
    let key = '';
    for (let i = 0; key === '' && i < 100; i++) {
      if ((await backendFor(proxy.url, { cookie: `meridian_affinity=k${i}` })) === 'rt1') key = `k${i}`;
    }
    assert.notEqual(key, '');
    rt1.failing = true;
    try {
      const res = await httpRequest(`${proxy.url}/`, { headers: { cookie: `meridian_affinity=${key}` } });
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-backend'], 'rt2');
      const post = await httpRequest(`${proxy.url}/upload`, {
        method: 'POST',
        body: 'payload',
        headers: { cookie: `meridian_affinity=${key}`, 'content-type': 'text/plain' },
      });
      assert.equal(post.status, 503, 'a POST with a body is not replayed');
      assert.equal(post.text, 'failing');
      const metrics = await proxy.registry.getSingleMetricAsString('meridian_proxy_retries_total');
      assert.match(metrics, /meridian_proxy_retries_total\{region="[^"]+"\} [1-9]/);
    } finally {
      rt1.failing = false;
    }
  });
});

void describe('proxy under load while a backend dies', () => {
  let store: MemoryStateStore;
  let backends: TestBackend[];
  let proxy: TestProxy;

  before(async () => {
    ({ store, backends } = await regionWithBackends(3, 'k'));
    // A budget of 100 %: at the moment of the kill every in-flight request may need its retry
    // (the default 20 %, minimum 3, can refuse one when 4+ hit the dead backend at once).
    proxy = await startTestProxy({ store, region: 'r1', config: { retries: { budgetPercent: 100 } } });
  });

  after(async () => {
    await proxy?.close();
    await Promise.all((backends ?? []).map((b) => b.close()));
    await store?.close();
  });

  void it('loses no idempotent request when a backend is killed mid-load', async () => {
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    let stop = false;
    let n = 0;
    const worker = async (w: number): Promise<void> => {
      while (!stop) {
        const res = await httpRequest(`${proxy.url}/slow?ms=5`, {
          headers: { cookie: `meridian_affinity=w${w}-${n++}` },
        });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status !== 200) failures.push(res.text);
      }
    };
    const workers = Array.from({ length: 6 }, (_, w) => worker(w));
    await new Promise((r) => setTimeout(r, 400));
    const victim = backends[0] as TestBackend;
    const servedBefore = victim.requests;
    assert.ok(servedBefore > 0);
    victim.kill();
    await waitFor('the proxy to mark the killed backend down', () =>
      proxy.proxy.backendStates().some((s) => s.backendId === 'k1' && !s.healthy),
    );
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await Promise.all(workers);
    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    assert.ok(total > 50, `only ${total} requests ran`);
    assert.deepEqual(
      [...statuses.keys()],
      [200],
      `statuses: ${JSON.stringify([...statuses])} ${failures.join(' ')}`,
    );
  });
});
