// Session affinity through a real proxy to real local backends: sticky cookies, issued cookies,
// balance over many keys, minimal movement on removal, failover and return on health changes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryStateStore } from '../../src/storage/memory/state-store.js';
import {
  backendFor,
  httpRequest,
  startBackends,
  startTestProxy,
  type TestBackend,
  type TestProxy,
  regionWithBackends,
} from '../helpers/backends.js';
import { waitFor } from '../helpers/wait.js';

const COOKIE = 'meridian_affinity';

void describe('proxy session affinity', () => {
  let store: MemoryStateStore;
  let backends: TestBackend[];
  let proxy: TestProxy;

  before(async () => {
    store = new MemoryStateStore();
    await store.start();
    await store.createRegion({ id: 'r1', lat: 50, lon: 8, ipv4: ['127.0.0.1'] });
    backends = await startBackends(3);
    for (const b of backends) await store.createBackend('r1', { id: b.id, url: b.url, weight: 100 });
    proxy = await startTestProxy({
      store,
      region: 'r1',
      config: {
        debugHeader: true,
        vnodes: 500,
        outlier: { consecutiveFailures: 5, baseEjectionMs: 300, maxEjectionMs: 600 },
      },
    });
  });

  after(async () => {
    await proxy?.close();
    await Promise.all((backends ?? []).map((b) => b.close()));
    await store?.close();
  });

  const keys = Array.from({ length: 300 }, (_, i) => `session-${i}`);
  const mapKeys = async (): Promise<Map<string, string>> => {
    const out = new Map<string, string>();
    for (const k of keys) out.set(k, await backendFor(proxy.url, { cookie: `${COOKIE}=${k}` }));
    return out;
  };

  void it('issues an affinity cookie when the client has none, with the right attributes', async () => {
    const res = await httpRequest(`${proxy.url}/hello`);
    assert.equal(res.status, 200);
    const setCookie = res.headers['set-cookie'];
    const cookie = Array.isArray(setCookie) ? setCookie.join('\n') : (setCookie ?? '');
    const m = new RegExp(
      `^${COOKIE}=([A-Za-z0-9_-]{16,}); Path=/; Max-Age=86400; HttpOnly; SameSite=Lax$`,
    ).exec(cookie);
    assert.ok(m, `unexpected Set-Cookie: ${cookie}`);
    assert.ok(!cookie.includes('Secure'), 'no Secure attribute over plain HTTP');

    // The issued value is the session: every later request with it lands on the same backend.
    const first = res.headers['x-backend'];
    for (let i = 0; i < 30; i++) {
      const again = await httpRequest(`${proxy.url}/hello`, {
        headers: { cookie: `other=1; ${COOKIE}=${m[1]}` },
      });
      assert.equal(again.headers['x-backend'], first);
      assert.equal(again.headers['set-cookie'], undefined, 'no new cookie when the client sent one');
    }
  });

  void it('keeps the same cookie on the same backend over many requests, and explains the pick', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const res = await httpRequest(`${proxy.url}/x?i=${i}`, {
        headers: { cookie: `${COOKIE}=fixed-session-7` },
      });
      seen.add(String(res.headers['x-backend']));
      const debug = String(res.headers['x-meridian-backend']);
      assert.match(debug, /^b[123]; hash=[0-9a-f]{16}; pos=\d+; spill=0$/);
    }
    assert.equal(seen.size, 1);
  });

  void it('spreads many keys roughly evenly over the backends', async () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 900; i++) {
      const id = await backendFor(proxy.url, { cookie: `${COOKIE}=spread-${i}` });
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    assert.deepEqual([...counts.keys()].sort(), ['b1', 'b2', 'b3']);
    for (const [id, n] of counts) assert.ok(n > 900 * 0.22 && n < 900 * 0.45, `${id} got ${n} of 900`);
  });

  void it('moves only the removed backend’s keys when a backend leaves the store', async () => {
    const before = await mapKeys();
    await store.removeBackend('r1', 'b3');
    await waitFor(
      'b3 to leave the ring',
      async () => (await mapKeys()).get(keys.find((k) => before.get(k) === 'b3') ?? '') !== 'b3',
    );
    const afterRemoval = await mapKeys();
    let moved = 0;
    for (const k of keys) {
      const was = before.get(k);
      const now = afterRemoval.get(k);
      assert.notEqual(now, 'b3');
      if (was === 'b3') moved++;
      else assert.equal(now, was, `key ${k} moved from ${was} to ${now} though its backend stayed`);
    }
    assert.ok(moved > 0);

    // Back in: exactly the old mapping returns.
    const b3 = backends[2] as TestBackend;
    await store.createBackend('r1', { id: 'b3', url: b3.url, weight: 100 });
    await waitFor('b3 to rejoin', async () => {
      const m = await mapKeys();
      return keys.every((k) => m.get(k) === before.get(k));
    });
  });

  void it('sends no new session to a draining backend but keeps its existing sessions; none when disabled', async () => {
    const before = await mapKeys();
    const homed = keys.filter((k) => before.get(k) === 'b1');
    assert.ok(homed.length > 0);
    await store.updateBackend('r1', 'b1', { state: 'draining' });
    try {
      await waitFor('draining to apply', async () => (await backendFor(proxy.url)) !== 'b1');
      for (let i = 0; i < 60; i++)
        assert.notEqual(await backendFor(proxy.url), 'b1', 'a new session landed on b1');
      for (const k of homed.slice(0, 20))
        assert.equal(await backendFor(proxy.url, { cookie: `${COOKIE}=${k}` }), 'b1');
      await store.updateBackend('r1', 'b1', { state: 'disabled' });
      await waitFor(
        'disabled to apply',
        async () => (await backendFor(proxy.url, { cookie: `${COOKIE}=${homed[0]}` })) !== 'b1',
      );
      for (const k of homed.slice(0, 20))
        assert.notEqual(await backendFor(proxy.url, { cookie: `${COOKIE}=${k}` }), 'b1');
    } finally {
      await store.updateBackend('r1', 'b1', { state: 'active' });
    }
    await waitFor('b1 active again', async () => {
      const m = await mapKeys();
      return keys.every((k) => m.get(k) === before.get(k));
    });
  });

  void it('moves an unhealthy backend’s keys to the next backend and brings them home on recovery', async () => {
    const before = await mapKeys();
    const b2 = backends[1] as TestBackend;
    b2.failing = true;
    await waitFor('b2 to be marked unhealthy', () =>
      proxy.proxy.backendStates().some((s) => s.backendId === 'b2' && !s.healthy),
    );
    const during = await mapKeys();
    for (const k of keys) {
      if (before.get(k) === 'b2')
        assert.ok(during.get(k) === 'b1' || during.get(k) === 'b3', `${k} → ${during.get(k)}`);
      else assert.equal(during.get(k), before.get(k), `key ${k} moved though its backend is healthy`);
    }
    b2.failing = false;
    await waitFor('b2 keys to come home', async () => {
      const m = await mapKeys();
      return keys.every((k) => m.get(k) === before.get(k));
    });
  });
});

void describe('proxy affinity by header and by client address', () => {
  let store: MemoryStateStore;
  let backends: TestBackend[];
  let byHeader: TestProxy;
  let byIp: TestProxy;

  before(async () => {
    store = new MemoryStateStore();
    await store.start();
    await store.createRegion({ id: 'r1', lat: 50, lon: 8, ipv4: ['127.0.0.1'] });
    backends = await startBackends(3);
    for (const b of backends) await store.createBackend('r1', { id: b.id, url: b.url, weight: 100 });
    byHeader = await startTestProxy({
      store,
      region: 'r1',
      config: { vnodes: 200, affinity: { mode: 'header' } },
    });
    byIp = await startTestProxy({
      store,
      region: 'r1',
      config: { vnodes: 200, affinity: { mode: 'client-ip' } },
    });
  });

  after(async () => {
    await byHeader?.close();
    await byIp?.close();
    await Promise.all((backends ?? []).map((b) => b.close()));
    await store?.close();
  });

  void it('uses the session header as the key and issues no cookie', async () => {
    const seen = new Set<string>();
    const per = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const res = await httpRequest(byHeader.url, { headers: { 'x-session-id': 'user-42' } });
      assert.equal(res.headers['set-cookie'], undefined);
      seen.add(String(res.headers['x-backend']));
    }
    assert.equal(seen.size, 1);
    for (let i = 0; i < 60; i++) per.add(await backendFor(byHeader.url, { 'x-session-id': `user-${i}` }));
    assert.equal(per.size, 3);
  });

  void it('pins a client address to one backend', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add(await backendFor(byIp.url));
    assert.equal(seen.size, 1);
  });
});

void describe('proxy bounded loads', () => {
  let store: MemoryStateStore;
  let backends: TestBackend[];
  let proxy: TestProxy;

  before(async () => {
    ({ store, backends } = await regionWithBackends(3, 'bl'));
    proxy = await startTestProxy({
      store,
      region: 'r1',
      config: { vnodes: 200, debugHeader: true, boundedLoad: { enabled: true, balanceFactor: 1.25 } },
    });
  });

  after(async () => {
    await proxy?.close();
    await Promise.all((backends ?? []).map((b) => b.close()));
    await store?.close();
  });

  void it('spills a hot key to the next backends once its home is above the load bound', async () => {
    const responses = await Promise.all(
      Array.from({ length: 6 }, () =>
        httpRequest(`${proxy.url}/slow?ms=400`, { headers: { cookie: `${COOKIE}=hot` } }),
      ),
    );
    const used = new Set(responses.map((r) => String(r.headers['x-backend'])));
    const spills = responses.map((r) =>
      Number(/spill=(\d+)/.exec(String(r.headers['x-meridian-backend']))?.[1]),
    );
    assert.ok(used.size > 1, `all on ${[...used].join(',')}`);
    assert.ok(spills.some((n) => n > 0));
    // Alone, the key is back on its home backend.
    const calm = await httpRequest(`${proxy.url}/`, { headers: { cookie: `${COOKIE}=hot` } });
    assert.match(String(calm.headers['x-meridian-backend']), /spill=0$/);
  });
});
