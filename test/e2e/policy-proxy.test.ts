// Traffic policies enforced by a running proxy, end to end: real backends, a real proxy (in-process
// and node:cluster workers), the policy stores (memory, and Redis on a real redis-server), HTTP
// clients on loopback. Also the per-region algorithm choice (`proxy.balancer`) and the region label
// on the proxy's metrics.
import assert from 'node:assert/strict';
import { get, type ClientRequest } from 'node:http';
import { after, afterEach, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { MemoryPolicyStore } from '../../src/storage/memory/policy-store.js';
import { RedisPolicyStore } from '../../src/storage/redis/policy-store.js';
import { MemoryStateStore } from '../../src/storage/memory/state-store.js';
import {
  httpRequest,
  startBackends,
  startTestProxy,
  type SimpleResponse,
  type TestBackend,
  type TestProxy,
} from '../helpers/backends.js';
import { startRedis, type RedisHandle } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';

const REGION = 'r1';

async function stateWith(backends: readonly TestBackend[]): Promise<MemoryStateStore> {
  const store = new MemoryStateStore();
  await store.start();
  await store.createRegion({ id: REGION, lat: 50, lon: 8, ipv4: ['127.0.0.1'] });
  for (const b of backends) await store.createBackend(REGION, { id: b.id, url: b.url, weight: 100 });
  return store;
}

function header(res: SimpleResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

function errorOf(res: SimpleResponse): {
  code: string;
  message: string;
  ruleId?: string;
  requestId?: string;
} {
  return (JSON.parse(res.text) as { error: { code: string; message: string; ruleId?: string } }).error;
}

const totalRequests = (backends: readonly TestBackend[]): number =>
  backends.reduce((n, b) => n + b.requests, 0);

/** One request on a fresh connection (node:cluster hands connections to the workers in turn). */
function freshStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

void describe('traffic policies through a running proxy (memory policy store)', () => {
  let backends: TestBackend[] = [];
  let state: MemoryStateStore;
  let policies: MemoryPolicyStore;
  let proxy: TestProxy | undefined;

  before(async () => {
    backends = await startBackends(3, 'p');
    state = await stateWith(backends);
    policies = new MemoryPolicyStore();
    await policies.start();
    proxy = await startTestProxy({
      store: state,
      region: REGION,
      // A "minute" lasts 2 s here, so a quota period boundary passes during the test.
      policies: { store: policies, keyPrefix: 'test:', quotaPeriodMs: { minute: 2000 } },
    });
    await waitFor('backends healthy', () => proxy?.proxy.backendStates().every((s) => s.healthy) ?? false);
  });

  afterEach(async () => {
    await policies.importBatch([], { replace: true });
  });

  after(async () => {
    await proxy?.close();
    await policies?.close();
    await state?.close();
    await Promise.all(backends.map((b) => b.close()));
  });

  void it('answers 429 with Retry-After and RateLimit-* at the request past the burst', async () => {
    assert.ok(proxy !== undefined);
    await policies.put({ id: 'rl', type: 'rate_limit', rate: 1, burst: 5, key: 'header:x-client' });
    const headers = { 'x-client': 'rate-test' };
    for (let i = 1; i <= 5; i++) {
      const res = await httpRequest(`${proxy.url}/r?i=${i}`, { headers });
      assert.equal(res.status, 200, `request ${i}`);
      assert.equal(header(res, 'ratelimit-limit'), '5');
      assert.equal(header(res, 'ratelimit-remaining'), String(5 - i), `request ${i}`);
      assert.ok(header(res, 'ratelimit-reset') !== undefined);
    }
    const before = totalRequests(backends);
    const res = await httpRequest(`${proxy.url}/r?i=6`, { headers });
    assert.equal(res.status, 429);
    assert.ok(Number(header(res, 'retry-after')) >= 1);
    assert.equal(header(res, 'ratelimit-limit'), '5');
    assert.equal(header(res, 'ratelimit-remaining'), '0');
    const requestId = header(res, 'x-request-id');
    assert.ok(requestId !== undefined && requestId !== '');
    const error = errorOf(res);
    assert.equal(error.code, 'E_RATE_LIMITED');
    assert.equal(error.requestId, requestId);
    assert.equal(totalRequests(backends), before, 'a rejected request never reaches a backend');
    // Another client has its own bucket.
    assert.equal((await httpRequest(`${proxy.url}/r`, { headers: { 'x-client': 'other' } })).status, 200);
  });

  void it('applies WAF rules by priority: block with the rule id, allow overriding a lower-priority block, log passes', async () => {
    assert.ok(proxy !== undefined);
    await policies.put({
      id: 'waf',
      type: 'waf',
      rules: [
        { id: 'log-all-reports', target: 'path', pattern: '^/reports', action: 'log', priority: 1 },
        {
          id: 'trusted-admins',
          target: 'header:x-admin-token',
          pattern: '^letmein$',
          action: 'allow',
          priority: 5,
        },
        { id: 'no-admin', target: 'path', pattern: '^/admin', action: 'block', priority: 10 },
      ],
    });
    const before = totalRequests(backends);
    const blocked = await httpRequest(`${proxy.url}/admin/users`);
    assert.equal(blocked.status, 403);
    const error = errorOf(blocked);
    assert.equal(error.code, 'E_WAF_BLOCKED');
    assert.equal(error.ruleId, 'no-admin');
    assert.equal(error.requestId, header(blocked, 'x-request-id'));
    assert.equal(totalRequests(backends), before, 'blocked before any backend');
    const allowed = await httpRequest(`${proxy.url}/admin/users`, {
      headers: { 'x-admin-token': 'letmein' },
    });
    assert.equal(allowed.status, 200, 'allow (priority 5) overrides block (priority 10)');
    const logged = await httpRequest(`${proxy.url}/reports/today`);
    assert.equal(logged.status, 200, 'a log rule only records');
    assert.equal(totalRequests(backends), before + 2);
  });

  void it('answers 429 with the reset time when a quota is used up, and resets at the period boundary', async () => {
    assert.ok(proxy !== undefined);
    await policies.put({ id: 'q', type: 'quota', limit: 3, period: 'minute', key: 'header:x-client' });
    const headers = { 'x-client': 'quota-test' };
    // Start right after a boundary, so all four requests fall in one (2 s) period.
    await new Promise((r) => setTimeout(r, 2000 - (Date.now() % 2000) + 20));
    for (let i = 1; i <= 3; i++) {
      const res = await httpRequest(`${proxy.url}/q`, { headers });
      assert.equal(res.status, 200, `request ${i}`);
      assert.equal(header(res, 'ratelimit-remaining'), String(3 - i));
    }
    const res = await httpRequest(`${proxy.url}/q`, { headers });
    assert.equal(res.status, 429);
    const error = errorOf(res);
    assert.equal(error.code, 'E_QUOTA_EXCEEDED');
    const resetText = /resets at (\S+)/.exec(error.message)?.[1];
    assert.ok(resetText !== undefined, error.message);
    const resetAt = Date.parse(resetText);
    assert.equal(resetAt % 2000, 0, 'the reset is the period boundary');
    assert.ok(resetAt > Date.now() && resetAt - Date.now() <= 2000);
    assert.ok(Number(header(res, 'retry-after')) >= 1);
    assert.ok(Number(header(res, 'ratelimit-reset')) <= 2);
    // Still refused before the boundary, allowed again after it.
    if (resetAt - Date.now() > 200)
      assert.equal((await httpRequest(`${proxy.url}/q`, { headers })).status, 429);
    await new Promise((r) => setTimeout(r, Math.max(0, resetAt - Date.now()) + 20));
    const next = await httpRequest(`${proxy.url}/q`, { headers });
    assert.equal(next.status, 200, 'usage reset at the boundary');
    assert.equal(header(next, 'ratelimit-remaining'), '2');
  });

  void it("paces one client's concurrent downloads together at the set bytes/s (±10 %)", async (t) => {
    assert.ok(proxy !== undefined);
    const rate = 200_000;
    await policies.put({ id: 'bw', type: 'bandwidth_limit', bytesPerSecond: rate, key: 'header:x-client' });
    const streams = 3;
    const received = new Array<number>(streams).fill(0);
    const requests: ClientRequest[] = [];
    const url = `${proxy.url}/download?bytes=${20_000_000}`;
    try {
      await Promise.all(
        Array.from(
          { length: streams },
          (_, i) =>
            new Promise<void>((resolve, reject) => {
              const req = get(url, { agent: false, headers: { 'x-client': 'bw-test' } }, (res) => {
                assert.equal(res.statusCode, 200);
                res.on('data', (chunk: Buffer) => (received[i] = (received[i] ?? 0) + chunk.length));
                res.on('error', () => undefined);
                resolve();
              });
              req.on('error', reject);
              requests.push(req);
            }),
        ),
      );
      const sum = (): number => received.reduce((a, b) => a + b, 0);
      await new Promise((r) => setTimeout(r, 500)); // past the initial burst
      const c0 = sum();
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, 3000));
      const c1 = sum();
      const t1 = performance.now();
      const measured = ((c1 - c0) * 1000) / (t1 - t0);
      t.diagnostic(
        `${streams} streams together: ${Math.round(measured)} B/s (limit ${rate}); per stream ${received.join(', ')} bytes`,
      );
      assert.ok(
        Math.abs(measured - rate) <= rate * 0.1,
        `paced at ${Math.round(measured)} B/s, expected ${rate} ± 10 %`,
      );
      // The budget is shared: every stream progresses, none gets it all.
      for (const [i, n] of received.entries())
        assert.ok(n > sum() * 0.15, `stream ${i} got ${n} of ${sum()}`);
    } finally {
      for (const r of requests) r.destroy();
    }
  });

  void it('enforces a policy added to the store, and stops when it is disabled, each within 1 s', async () => {
    assert.ok(proxy !== undefined);
    const url = `${proxy.url}/late`;
    assert.equal((await httpRequest(url)).status, 200);
    const added = Date.now();
    await policies.put({
      id: 'late',
      type: 'waf',
      rules: [{ id: 'late-block', target: 'path', pattern: '^/late', action: 'block' }],
    });
    await waitFor('the new policy blocks', async () => (await httpRequest(url)).status === 403, {
      timeoutMs: 1000,
    });
    assert.ok(Date.now() - added <= 1000);
    const disabled = Date.now();
    await policies.setEnabled('late', false);
    await waitFor(
      'the disabled policy lets requests through',
      async () => (await httpRequest(url)).status === 200,
      { timeoutMs: 1000 },
    );
    assert.ok(Date.now() - disabled <= 1000);
  });
});

void describe('traffic policies in cluster mode (2 workers, memory policy store pushed over IPC)', () => {
  let backends: TestBackend[] = [];
  let state: MemoryStateStore;
  let policies: MemoryPolicyStore;
  let proxy: TestProxy | undefined;

  before(async () => {
    backends = await startBackends(2, 'w');
    state = await stateWith(backends);
    policies = new MemoryPolicyStore();
    await policies.start();
    await policies.put({
      id: 'waf-boot',
      type: 'waf',
      rules: [{ id: 'boot-block', target: 'path', pattern: '^/boot', action: 'block' }],
    });
    proxy = await startTestProxy({
      store: state,
      region: REGION,
      config: { workers: 2 },
      policies: { store: policies, keyPrefix: 'test:' },
    });
  });

  after(async () => {
    await proxy?.close();
    await policies?.close();
    await state?.close();
    await Promise.all(backends.map((b) => b.close()));
  });

  void it('every worker enforces the policies it started with and follows changes within 1 s', async () => {
    assert.ok(proxy !== undefined);
    await waitFor('workers serve', async () => (await freshStatus(`${proxy?.url ?? ''}/ok`)) === 200);
    for (let i = 0; i < 6; i++) assert.equal(await freshStatus(`${proxy.url}/boot`), 403, `request ${i}`);
    const url = `${proxy.url}/late`;
    const allBlocked = async (status: number): Promise<boolean> => {
      for (let i = 0; i < 6; i++) if ((await freshStatus(url)) !== status) return false;
      return true;
    };
    const added = Date.now();
    await policies.put({
      id: 'late',
      type: 'waf',
      rules: [{ id: 'late-block', target: 'path', pattern: '^/late', action: 'block' }],
    });
    await waitFor('both workers block', () => allBlocked(403), { timeoutMs: 1000 });
    assert.ok(Date.now() - added <= 1000, `took ${Date.now() - added} ms`);
    const disabled = Date.now();
    await policies.setEnabled('late', false);
    await waitFor('both workers let it through', () => allBlocked(200), { timeoutMs: 1000 });
    assert.ok(Date.now() - disabled <= 1000, `took ${Date.now() - disabled} ms`);
    // Policy metrics come back from the workers, and proxy metrics carry the region.
    const metrics = await proxy.proxy.proxyMetrics();
    assert.match(metrics, /meridian_policy_decisions_total\{type="waf",action="block"\} [1-9]/);
    assert.match(
      metrics,
      /meridian_proxy_requests_total\{region="r1",backend="none",method_class="read",status_class="4xx"\} [1-9]/,
    );
  });
});

void describe('cluster-wide limits: two proxies on one real Redis (RedisPolicyStore)', () => {
  let redis: RedisHandle | undefined;
  const clients: Redis[] = [];
  const stores: RedisPolicyStore[] = [];
  let backends: TestBackend[] = [];
  let state: MemoryStateStore;
  let a: TestProxy | undefined;
  let b: TestProxy | undefined;
  const keyPrefix = 'pp:';

  const policyStore = async (): Promise<{ store: RedisPolicyStore; redis: Redis }> => {
    if (redis === undefined) throw new Error('redis not started');
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1, commandTimeout: 2000 });
    clients.push(client);
    const store = new RedisPolicyStore({ redis: client, keyPrefix });
    await store.start();
    stores.push(store);
    return { store, redis: client };
  };

  before(async () => {
    redis = await startRedis();
    backends = await startBackends(2, 'x');
    state = await stateWith(backends);
    const one = await policyStore();
    const two = await policyStore();
    // Proxy A in-process, proxy B with two node:cluster workers (each opens its own Redis connection).
    a = await startTestProxy({
      store: state,
      region: REGION,
      reporterId: 'a',
      policies: { ...one, keyPrefix },
    });
    b = await startTestProxy({
      store: state,
      region: REGION,
      reporterId: 'b',
      config: { workers: 2 },
      policies: { ...two, keyPrefix },
    });
  });

  after(async () => {
    await a?.close();
    await b?.close();
    for (const s of stores) await s.close();
    for (const c of clients) c.disconnect();
    await state?.close();
    await Promise.all(backends.map((x) => x.close()));
    await redis?.stop();
  });

  void it('shares one rate-limit budget and one quota between the proxies', async () => {
    assert.ok(a !== undefined && b !== undefined);
    const writer = stores[0];
    assert.ok(writer !== undefined);
    await writer.importBatch([
      { id: 'crl', type: 'rate_limit', rate: 1, burst: 10, mode: 'cluster', key: 'header:x-client' },
      { id: 'cq', type: 'quota', limit: 8, period: 'hour', key: 'header:x-tenant' },
    ]);
    const pa = a;
    const pb = b;
    // Both proxies (and both of B's workers) see the policies.
    await waitFor(
      'every proxy enforces the quota',
      async () => {
        const res = await httpRequest(`${pa.url}/probe`, {
          headers: { 'x-tenant': 'probe', 'x-client': 'probe' },
        });
        const resB = await httpRequest(`${pb.url}/probe`, {
          headers: { 'x-tenant': 'probe', 'x-client': 'probe' },
        });
        return header(res, 'ratelimit-limit') !== undefined && header(resB, 'ratelimit-limit') !== undefined;
      },
      { timeoutMs: 3000 },
    );
    await new Promise((r) => setTimeout(r, 1000)); // the replica pushes reach every worker

    // Rate limit: 30 requests of one client spread over A and B's workers.
    const started = Date.now();
    let passed = 0;
    for (let i = 0; i < 30; i++) {
      const url = `${i % 2 === 0 ? pa.url : pb.url}/rl`;
      const status = await freshStatus(url, { 'x-client': 'shared-client', 'x-tenant': `t-rl-${i}` });
      if (status === 200) passed++;
      else assert.equal(status, 429);
    }
    const elapsed = (Date.now() - started) / 1000;
    assert.ok(passed >= 10 && passed <= 10 + Math.ceil(elapsed) + 1, `${passed} passed in ${elapsed} s`);

    // Quota: exactly 8 requests of one tenant pass, whichever proxy they reach.
    let quotaPassed = 0;
    for (let i = 0; i < 16; i++) {
      const url = `${i % 2 === 0 ? pa.url : pb.url}/q`;
      const status = await freshStatus(url, { 'x-tenant': 'shared-tenant', 'x-client': `c-q-${i}` });
      if (status === 200) quotaPassed++;
      else assert.equal(status, 429);
    }
    assert.equal(quotaPassed, 8);
  });
});

void describe('proxy.balancer: round_robin', () => {
  let backends: TestBackend[] = [];
  let state: MemoryStateStore;
  let proxy: TestProxy | undefined;

  before(async () => {
    backends = await startBackends(3, 'rr');
    state = await stateWith(backends);
    proxy = await startTestProxy({ store: state, region: REGION, config: { balancer: 'round_robin' } });
    await waitFor('backends healthy', () => proxy?.proxy.backendStates().every((s) => s.healthy) ?? false);
  });

  after(async () => {
    await proxy?.close();
    await state?.close();
    await Promise.all(backends.map((b) => b.close()));
  });

  void it('spreads requests evenly and sends none to an unhealthy backend', async () => {
    assert.ok(proxy !== undefined);
    const counts = (): number[] => backends.map((b) => b.requests);
    const base = counts();
    for (let i = 0; i < 30; i++) assert.equal((await httpRequest(`${proxy.url}/x`)).status, 200);
    assert.deepEqual(
      counts().map((n, i) => n - (base[i] ?? 0)),
      [10, 10, 10],
    );
    const sick = backends[1];
    assert.ok(sick !== undefined);
    sick.failing = true;
    await waitFor(
      'the proxy marks it unhealthy',
      () => proxy?.proxy.backendStates().find((s) => s.backendId === sick.id)?.healthy === false,
    );
    const before = counts();
    for (let i = 0; i < 30; i++) assert.equal((await httpRequest(`${proxy.url}/y`)).status, 200);
    const delta = counts().map((n, i) => n - (before[i] ?? 0));
    assert.deepEqual(delta, [15, 0, 15]);
    sick.failing = false;
    // Metrics carry the region.
    const metrics = await proxy.proxy.proxyMetrics();
    assert.match(
      metrics,
      /meridian_proxy_requests_total\{region="r1",backend="rr1",method_class="read",status_class="2xx"\} [1-9]/,
    );
    assert.match(metrics, /meridian_proxy_backend_healthy\{region="r1",backend="rr2"\} 0/);
    assert.match(metrics, /meridian_proxy_in_flight_requests\{region="r1"\} \d/);
  });
});
