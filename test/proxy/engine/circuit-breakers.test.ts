// Envoy-style circuit breakers against real backends: max requests and max pending requests refuse
// with a JSON 503 E_CIRCUIT_OPEN naming the limit, max connections makes a request wait (and
// counts), max retries keeps a retry off a full backend (the client gets the answer that would
// have been retried), every trip is counted by backend and limit, and the limits are validated.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { proxySchema } from '../../../src/config/proxy-schema.js';
import type { MemoryStateStore } from '../../../src/storage/memory/state-store.js';
import {
  backendFor,
  httpRequest,
  regionWithBackends,
  startTestProxy,
  type SimpleResponse,
  type TestBackend,
  type TestProxy,
} from '../../helpers/backends.js';
import { waitFor } from '../../helpers/wait.js';

// Active checks every minute (the first one at once): only the tests decide what fails.
const QUIET = {
  health: { intervalMs: 60_000, timeoutMs: 500, jitter: 0 },
  outlier: { consecutiveFailures: 0 },
};

function assertCircuitOpen(res: SimpleResponse, limit: string): void {
  assert.equal(res.status, 503, res.text);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const body = JSON.parse(res.text) as { error: { code: string; message: string; requestId: string } };
  assert.equal(body.error.code, 'E_CIRCUIT_OPEN');
  assert.match(body.error.message, new RegExp(limit));
  assert.equal(res.headers['x-request-id'], body.error.requestId);
}

async function trips(proxy: TestProxy, backend: string, limit: string): Promise<number> {
  const text = await proxy.registry.getSingleMetricAsString('meridian_proxy_circuit_breaker_trips_total');
  const line = text
    .split('\n')
    .find((l) => l.includes(`backend="${backend}"`) && l.includes(`limit="${limit}"`));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

void describe('circuit breakers', () => {
  let store: MemoryStateStore;
  let backends: TestBackend[];
  const proxies: TestProxy[] = [];

  before(async () => {
    ({ store, backends } = await regionWithBackends(1, 'cb'));
  });

  after(async () => {
    await Promise.all(proxies.map((p) => p.close()));
    await Promise.all(backends.map((b) => b.close()));
    await store.close();
  });

  async function proxyWith(circuitBreakers: Record<string, number>): Promise<TestProxy> {
    const proxy = await startTestProxy({ store, region: 'r1', config: { ...QUIET, circuitBreakers } });
    proxies.push(proxy);
    await waitFor('the backend in the proxy', () => proxy.proxy.backendStates().length === 1);
    return proxy;
  }

  void it('refuses a request beyond maxRequests with a JSON 503 naming the limit, then closes', async () => {
    const [b] = backends as [TestBackend];
    const proxy = await proxyWith({ maxRequests: 1 });
    const before = b.requests;
    const slow = httpRequest(`${proxy.url}/slow?ms=500`);
    await waitFor('the slow request at the backend', () => b.requests === before + 1);
    assertCircuitOpen(await httpRequest(`${proxy.url}/`), 'max_requests');
    assert.equal(await trips(proxy, 'cb1', 'max_requests'), 1);
    assert.equal((await slow).status, 200);
    assert.equal((await httpRequest(`${proxy.url}/`)).status, 200, 'the breaker closes again');
  });

  void it('makes a request beyond maxConnections wait, and refuses one beyond maxPendingRequests', async () => {
    const [b] = backends as [TestBackend];
    const proxy = await proxyWith({ maxConnections: 1, maxPendingRequests: 1 });
    const before = b.requests;
    const running = httpRequest(`${proxy.url}/slow?ms=400`);
    await waitFor('the first request at the backend', () => b.requests === before + 1);
    const waiting = httpRequest(`${proxy.url}/slow?ms=10`);
    await waitFor('the second request to wait for a connection', async () => {
      return (await trips(proxy, 'cb1', 'max_connections')) === 1;
    });
    assert.equal(b.requests, before + 1, 'one connection: the second request has not reached the backend');
    assertCircuitOpen(await httpRequest(`${proxy.url}/`), 'max_pending_requests');
    assert.equal(await trips(proxy, 'cb1', 'max_pending_requests'), 1);
    assert.deepEqual([(await running).status, (await waiting).status], [200, 200]);
  });

  void it('rejects limits that are not counts, naming the key', () => {
    const bad = proxySchema.safeParse({ region: 'r1', circuitBreakers: { maxRequests: 0 } });
    assert.equal(bad.success, false);
    assert.deepEqual(bad.error?.issues[0]?.path, ['circuitBreakers', 'maxRequests']);
    const unknown = proxySchema.safeParse({ region: 'r1', circuitBreakers: { maxConnection: 4 } });
    assert.equal(unknown.success, false);
    const defaults = proxySchema.parse({ region: 'r1' }).circuitBreakers;
    assert.deepEqual(defaults, {
      maxConnections: 128,
      maxPendingRequests: 1024,
      maxRequests: 1024,
      maxRetries: 3,
    });
  });
});

void describe('the max_retries circuit breaker', () => {
  let store: MemoryStateStore;
  let backends: TestBackend[];
  let proxy: TestProxy;

  before(async () => {
    ({ store, backends } = await regionWithBackends(2, 'mr'));
    proxy = await startTestProxy({
      store,
      region: 'r1',
      config: { ...QUIET, circuitBreakers: { maxRetries: 1 }, retries: { budgetPercent: 100 } },
    });
    await waitFor('both backends in the proxy', () => proxy.proxy.backendStates().length === 2);
  });

  after(async () => {
    await proxy.close();
    await Promise.all(backends.map((b) => b.close()));
    await store.close();
  });

  void it('sends no second concurrent retry to a backend; that client gets the answer it would have retried', async () => {
    const [mr1, mr2] = backends as [TestBackend, TestBackend];
    // Two sessions on mr1 (the ring decides), which then fails: both retries want mr2.
    const keys: string[] = [];
    for (let i = 0; keys.length < 2 && i < 200; i++) {
      if ((await backendFor(proxy.url, { cookie: `meridian_affinity=s${i}` })) === 'mr1') keys.push(`s${i}`);
    }
    assert.equal(keys.length, 2);
    mr1.failing = true;
    const before = mr2.requests;
    const first = httpRequest(`${proxy.url}/slow?ms=400`, {
      headers: { cookie: `meridian_affinity=${keys[0]}` },
    });
    await waitFor('the first retry at mr2', () => mr2.requests === before + 1);
    const second = await httpRequest(`${proxy.url}/slow?ms=400`, {
      headers: { cookie: `meridian_affinity=${keys[1]}` },
    });
    assert.deepEqual([second.status, second.text], [503, 'failing'], 'the backend answer, not retried');
    assert.equal(await trips(proxy, 'mr2', 'max_retries'), 1);
    const retried = await first;
    assert.deepEqual([retried.status, retried.headers['x-backend']], [200, 'mr2']);
    mr1.failing = false;
  });
});
