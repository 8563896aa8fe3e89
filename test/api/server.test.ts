// The admin API over a real socket against a real MemoryStateStore: every route, every error.
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MeridianError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/infra/logger.js';
import { createRegistry } from '../../src/infra/metrics/registry.js';
import { startAdminApi, type AdminApi, type ExplainQuery } from '../../src/api/server.js';
import { MemoryStateStore } from '../../src/storage/memory/state-store.js';
import { auditSink } from '../../src/ops/audit.js';
import { MemoryOpsRecordStore } from '../../src/storage/memory/ops-record-store.js';
import type { AuditRecord } from '../../src/storage/ops-record-store.js';
import type { StateStore, StoreStatus } from '../../src/storage/state-store.js';

const TOKEN = 'test-token-0123456789';
/** What the audit once recorded as the actor (enough to confirm a guessed token offline). */
const tokenHashPrefix = createHash('sha256').update(TOKEN).digest('hex').slice(0, 8);
const BODY_LIMIT = 2048;

/** Parsed JSON from the API; its shape is what the assertions check. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

interface Reply {
  status: number;
  body: Json;
  text: string;
  headers: Headers;
}

function client(api: AdminApi) {
  const base = `http://127.0.0.1:${api.address.port}`;
  return async (
    method: string,
    path: string,
    options: { body?: unknown; raw?: string; token?: string | null; headers?: Record<string, string> } = {},
  ): Promise<Reply> => {
    const headers: Record<string, string> = { ...options.headers };
    const token = options.token === undefined ? TOKEN : options.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (options.raw !== undefined) body = options.raw;
    else if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined && headers['content-type'] === undefined)
      headers['content-type'] = 'application/json';
    const res = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed, text, headers: res.headers };
  };
}

function assertError(reply: Reply, status: number, code: string, field?: string): void {
  assert.equal(reply.status, status, reply.text);
  assert.equal(reply.body?.error?.code, code, reply.text);
  assert.equal(typeof reply.body.error.message, 'string');
  assert.ok(reply.body.error.message.length > 0);
  if (field !== undefined) assert.equal(reply.body.error.field, field, reply.text);
}

const region = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  lat: 50.1,
  lon: 8.7,
  ipv4: ['192.0.2.10'],
  ...extra,
});

void describe('admin API', () => {
  let store: MemoryStateStore;
  let api: AdminApi;
  let call: ReturnType<typeof client>;
  const explained: ExplainQuery[] = [];

  before(async () => {
    store = new MemoryStateStore({ logger: silentLogger });
    await store.start();
    const registry = createRegistry();
    api = await startAdminApi({
      listen: { host: '127.0.0.1', port: 0 },
      store,
      token: TOKEN,
      bodyLimitBytes: BODY_LIMIT,
      // The auth tests fail on purpose more often than the default burst; throttling has its own tests.
      authFailures: { burst: 100, perSeconds: 60 },
      logger: silentLogger,
      registry,
      metrics: () => registry.metrics(),
      extraRoutes: [
        {
          method: 'POST',
          path: '/v1/echo',
          handler: (req) => ({ body: { actor: req.actor, requestId: req.requestId, body: req.body } }),
        },
      ],
      explain: (q) => {
        explained.push(q);
        return { query: q, outcome: 'addresses', regions: ['eu-west'], addresses: ['192.0.2.10'], ttl: 30 };
      },
    });
    call = client(api);
  });

  after(async () => {
    await api.close();
    await store.close();
  });

  void it('binds loopback on a free port', () => {
    assert.equal(api.address.host, '127.0.0.1');
    assert.ok(api.address.port > 0);
  });

  void it('GET /healthz reports ok with the store status, without auth', async () => {
    const r = await call('GET', '/healthz', { token: null });
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'ok');
    assert.equal(r.body.store.kind, 'memory');
    assert.equal(r.body.store.connected, true);
  });

  void it('GET /metrics serves Prometheus text with default and API metrics', async () => {
    await call('GET', '/v1/regions');
    const r = await call('GET', '/metrics', { token: null });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.match(r.text, /^meridian_process_cpu_user_seconds_total /m);
    assert.match(
      r.text,
      /meridian_api_requests_total\{method="GET",route="\/v1\/regions",status="200"\} \d+/,
    );
  });

  void describe('regions', () => {
    void it('creates, lists, shows, patches, drains, undrains and deletes', async () => {
      const created = await call('POST', '/v1/regions', {
        body: region('eu-west', { country: 'DE', labels: { tier: 'a' } }),
      });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.body.id, 'eu-west');
      assert.equal(created.body.state, 'active');
      assert.equal(created.body.weight, 100);
      assert.deepEqual(created.body.labels, { tier: 'a' });

      await call('POST', '/v1/regions', {
        body: region('ap-south', { lat: 19.1, lon: 72.9, ipv4: [], ipv6: ['2001:db8::1'] }),
      });
      const list = await call('GET', '/v1/regions');
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.regions.map((r: { id: string }) => r.id),
        ['ap-south', 'eu-west'],
      );

      const shown = await call('GET', '/v1/regions/eu-west');
      assert.equal(shown.status, 200);
      assert.equal(shown.body.region.id, 'eu-west');
      assert.equal(shown.body.health.status, 'unmonitored');
      assert.deepEqual(shown.body.backends, { total: 0, active: 0, draining: 0, disabled: 0 });

      const patched = await call('PATCH', '/v1/regions/eu-west', {
        body: { weight: 7, capacity: 50, country: null },
      });
      assert.equal(patched.status, 200, patched.text);
      assert.equal(patched.body.weight, 7);
      assert.equal(patched.body.capacity, 50);
      assert.equal(patched.body.country, undefined);

      const drained = await call('POST', '/v1/regions/eu-west/drain');
      assert.equal(drained.status, 200);
      assert.equal(drained.body.state, 'draining');
      assert.equal(store.current().regions.get('eu-west')?.state, 'draining');
      const undrained = await call('POST', '/v1/regions/eu-west/undrain');
      assert.equal(undrained.body.state, 'active');

      const removed = await call('DELETE', '/v1/regions/ap-south');
      assert.equal(removed.status, 204);
      assert.equal(removed.text, '');
      assertError(await call('GET', '/v1/regions/ap-south'), 404, 'E_NOT_FOUND');
    });

    void it('rejects a conflicting create with 409', async () => {
      await call('POST', '/v1/regions', { body: region('dup-1') });
      assertError(await call('POST', '/v1/regions', { body: region('dup-1') }), 409, 'E_CONFLICT');
    });

    void it('names the field for bad values (400)', async () => {
      assertError(
        await call('POST', '/v1/regions', { body: region('bad-lat', { lat: 91 }) }),
        400,
        'E_VALIDATION',
        'lat',
      );
      assertError(
        await call('POST', '/v1/regions', { body: region('bad-lon', { lon: 'x' }) }),
        400,
        'E_VALIDATION',
        'lon',
      );
      assertError(
        await call('POST', '/v1/regions', { body: region('bad-v4', { ipv4: ['2001:db8::1'] }) }),
        400,
        'E_VALIDATION',
        'ipv4[0]',
      );
      assertError(
        await call('POST', '/v1/regions', { body: region('no-addr', { ipv4: [] }) }),
        400,
        'E_VALIDATION',
        'ipv4',
      );
      assertError(await call('POST', '/v1/regions', { body: region('Bad_Id') }), 400, 'E_VALIDATION', 'id');
      assertError(
        await call('POST', '/v1/regions', { body: region('extra', { colour: 'red' }) }),
        400,
        'E_VALIDATION',
        'colour',
      );
      assertError(await call('POST', '/v1/regions', { body: [1, 2] }), 400, 'E_VALIDATION', 'body');
      assertError(
        await call('PATCH', '/v1/regions/eu-west', { body: { weight: -1 } }),
        400,
        'E_VALIDATION',
        'weight',
      );
      assertError(
        await call('PATCH', '/v1/regions/eu-west', { body: { ipv4: [], ipv6: [] } }),
        400,
        'E_VALIDATION',
        'ipv4',
      );
    });

    void it('answers 400 naming the body for invalid JSON, and 400 for a missing body', async () => {
      const r = await call('POST', '/v1/regions', { raw: '{"id": "x", "lat": ' });
      assertError(r, 400, 'E_VALIDATION', 'body');
      assert.match(r.body.error.message, /invalid JSON/);
      // Any content type is read as JSON.
      const plain = await call('POST', '/v1/regions', {
        raw: JSON.stringify(region('as-text')),
        headers: { 'content-type': 'text/plain' },
      });
      assert.equal(plain.status, 201, plain.text);
      assertError(await call('POST', '/v1/regions'), 400, 'E_VALIDATION', 'body');
    });

    void it('answers 404 for unknown regions on every region route', async () => {
      assertError(await call('GET', '/v1/regions/nope'), 404, 'E_NOT_FOUND');
      assertError(await call('PATCH', '/v1/regions/nope', { body: { weight: 1 } }), 404, 'E_NOT_FOUND');
      assertError(await call('DELETE', '/v1/regions/nope'), 404, 'E_NOT_FOUND');
      assertError(await call('POST', '/v1/regions/nope/drain'), 404, 'E_NOT_FOUND');
      assertError(await call('GET', '/v1/regions/nope/backends'), 404, 'E_NOT_FOUND');
      assertError(await call('GET', '/v1/regions/nope/health'), 404, 'E_NOT_FOUND');
    });

    void it('rejects a body over the limit with 413', async () => {
      const r = await call('POST', '/v1/regions', { body: region('big', { name: 'x'.repeat(BODY_LIMIT) }) });
      assertError(r, 413, 'E_TOO_LARGE');
      assert.match(r.body.error.message, new RegExp(String(BODY_LIMIT)));
    });
  });

  void describe('auth', () => {
    void it('requires a bearer token for every write and every read (401 JSON)', async () => {
      const missing = await call('POST', '/v1/regions', { body: region('no-auth'), token: null });
      assertError(missing, 401, 'E_UNAUTHORIZED');
      assert.equal(missing.headers.get('www-authenticate'), 'Bearer');
      assertError(
        await call('POST', '/v1/regions', { body: region('bad-auth'), token: 'wrong-token' }),
        401,
        'E_UNAUTHORIZED',
      );
      assertError(await call('DELETE', '/v1/regions/eu-west', { token: null }), 401, 'E_UNAUTHORIZED');
      assertError(
        await call('POST', '/v1/regions/eu-west/drain', { token: TOKEN.slice(0, -1) }),
        401,
        'E_UNAUTHORIZED',
      );
      assertError(
        await call('POST', '/v1/regions/eu-west/health', {
          body: { reporterId: 'p', healthyBackends: 1, totalBackends: 1 },
          token: null,
        }),
        401,
        'E_UNAUTHORIZED',
      );
      assertError(
        await call('POST', '/v1/regions', {
          body: region('basic'),
          token: null,
          headers: { authorization: `Basic ${TOKEN}` },
        }),
        401,
        'E_UNAUTHORIZED',
      );
      assert.equal(store.current().regions.has('no-auth'), false);
      assertError(await call('GET', '/v1/regions', { token: null }), 401, 'E_UNAUTHORIZED');
      assertError(await call('GET', '/v1/status', { token: 'wrong-token' }), 401, 'E_UNAUTHORIZED');
      assert.equal((await call('GET', '/v1/regions')).status, 200);
    });

    void it('checks the token before reading the body', async () => {
      // An unauthenticated oversized body gets 401, not 413.
      const r = await call('POST', '/v1/regions', {
        body: { name: 'x'.repeat(BODY_LIMIT * 2) },
        token: null,
      });
      assertError(r, 401, 'E_UNAUTHORIZED');
    });

    void it('without a configured token or users refuses every request but /healthz, saying to set MERIDIAN_API_TOKEN', async () => {
      const open = await startAdminApi({
        listen: { host: '127.0.0.1', port: 0 },
        store,
        token: undefined,
        bodyLimitBytes: BODY_LIMIT,
        logger: silentLogger,
        metrics: () => Promise.resolve(''),
      });
      try {
        const r = await client(open)('POST', '/v1/regions', { body: region('open-1') });
        assertError(r, 401, 'E_UNAUTHORIZED');
        assert.match(r.body.error.message, /MERIDIAN_API_TOKEN/);
        assertError(await client(open)('GET', '/v1/regions'), 401, 'E_UNAUTHORIZED');
        assert.equal((await client(open)('GET', '/healthz')).status, 200);
      } finally {
        await open.close();
      }
    });
  });

  void describe('backends', () => {
    before(async () => {
      await call('POST', '/v1/regions', { body: region('us-east', { lat: 39, lon: -77 }) });
    });

    void it('creates, lists, shows, patches, drains, undrains and deletes', async () => {
      const created = await call('POST', '/v1/regions/us-east/backends', {
        body: { url: 'http://127.0.0.1:9001' },
      });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.body.id, '127-0-0-1-9001');
      assert.equal(created.body.regionId, 'us-east');
      const named = await call('POST', '/v1/regions/us-east/backends', {
        body: { id: 'b2', url: 'https://b2.example.test', weight: 5 },
      });
      assert.equal(named.status, 201);

      const list = await call('GET', '/v1/regions/us-east/backends');
      assert.deepEqual(
        list.body.backends.map((b: { id: string }) => b.id),
        ['127-0-0-1-9001', 'b2'],
      );
      const one = await call('GET', '/v1/regions/us-east/backends/b2');
      assert.equal(one.body.url, 'https://b2.example.test');

      const patched = await call('PATCH', '/v1/regions/us-east/backends/b2', { body: { weight: 9 } });
      assert.equal(patched.body.weight, 9);
      assert.equal((await call('POST', '/v1/regions/us-east/backends/b2/drain')).body.state, 'draining');
      const detail = await call('GET', '/v1/regions/us-east');
      assert.deepEqual(detail.body.backends, { total: 2, active: 1, draining: 1, disabled: 0 });
      assert.equal((await call('POST', '/v1/regions/us-east/backends/b2/undrain')).body.state, 'active');

      assert.equal((await call('DELETE', '/v1/regions/us-east/backends/b2')).status, 204);
      assertError(await call('GET', '/v1/regions/us-east/backends/b2'), 404, 'E_NOT_FOUND');
      assertError(await call('DELETE', '/v1/regions/us-east/backends/b2'), 404, 'E_NOT_FOUND');
      assertError(await call('POST', '/v1/regions/us-east/backends/b2/drain'), 404, 'E_NOT_FOUND');
      assertError(
        await call('PATCH', '/v1/regions/us-east/backends/b2', { body: { weight: 1 } }),
        404,
        'E_NOT_FOUND',
      );
    });

    void it('validates backends: URL scheme, unknown fields, duplicates', async () => {
      assertError(
        await call('POST', '/v1/regions/us-east/backends', { body: { url: 'ftp://x.test' } }),
        400,
        'E_VALIDATION',
        'url',
      );
      assertError(
        await call('POST', '/v1/regions/us-east/backends', { body: {} }),
        400,
        'E_VALIDATION',
        'url',
      );
      assertError(
        await call('POST', '/v1/regions/us-east/backends', { body: { url: 'http://x.test', weight: 1.5 } }),
        400,
        'E_VALIDATION',
        'weight',
      );
      await call('POST', '/v1/regions/us-east/backends', { body: { id: 'b3', url: 'http://b3.test' } });
      assertError(
        await call('POST', '/v1/regions/us-east/backends', { body: { id: 'b3', url: 'http://b3.test' } }),
        409,
        'E_CONFLICT',
      );
      assertError(
        await call('POST', '/v1/regions/nope/backends', { body: { url: 'http://x.test' } }),
        404,
        'E_NOT_FOUND',
      );
    });
  });

  void describe('health and status', () => {
    before(async () => {
      await call('POST', '/v1/regions', { body: region('sa-east', { lat: -23.5, lon: -46.6 }) });
      await call('POST', '/v1/regions/sa-east/backends', {
        body: { id: 'web-1', url: 'http://10.0.0.1:80' },
      });
      await call('POST', '/v1/regions/sa-east/backends', {
        body: { id: 'web-2', url: 'http://10.0.0.2:80' },
      });
    });

    void it('accepts a report, then shows raw reports, the evaluated view and per-backend reasons', async () => {
      const posted = await call('POST', '/v1/regions/sa-east/health', {
        body: {
          reporterId: 'proxy-a',
          healthyBackends: 1,
          totalBackends: 2,
          inFlight: 12,
          requestRate: 30.5,
          p95LatencyMs: 41,
          ttlSeconds: 60,
          backends: [
            { backendId: 'web-1', healthy: true },
            { backendId: 'web-2', healthy: false, reason: 'active check failed 3x: connect ECONNREFUSED' },
          ],
        },
      });
      assert.equal(posted.status, 200, posted.text);
      assert.equal(posted.body.regionId, 'sa-east');
      assert.ok(posted.body.expiresAt - posted.body.reportedAt === 60_000);

      const h = await call('GET', '/v1/regions/sa-east/health');
      assert.equal(h.status, 200);
      assert.equal(h.body.view.status, 'healthy');
      assert.equal(h.body.view.inFlight, 12);
      assert.equal(h.body.reports.length, 1);
      assert.equal(h.body.reports[0].reporterId, 'proxy-a');
      assert.equal(h.body.reports[0].fresh, true);
      const web2 = h.body.backends.find((b: { backendId: string }) => b.backendId === 'web-2');
      assert.equal(web2.healthy, false);
      assert.equal(web2.url, 'http://10.0.0.2:80');
      assert.deepEqual(web2.reasons, [
        { reporterId: 'proxy-a', reason: 'active check failed 3x: connect ECONNREFUSED' },
      ]);

      const status = await call('GET', '/v1/status');
      const entry = status.body.regions.find((r: { id: string }) => r.id === 'sa-east');
      assert.equal(entry.state, 'active');
      assert.equal(entry.health.status, 'healthy');
      assert.equal(entry.backends.healthy, 1);
      assert.equal(entry.backends.total, 2);
      assert.equal(entry.inFlight, 12);
      const unmonitored = status.body.regions.find((r: { id: string }) => r.id === 'eu-west');
      assert.equal(unmonitored.health.status, 'unmonitored');
      assert.equal(unmonitored.backends.healthy, null);
      assert.equal(status.body.store.kind, 'memory');
    });

    void it('validates reports, naming the field', async () => {
      const base = { reporterId: 'proxy-b', healthyBackends: 1, totalBackends: 1 };
      const post = (body: unknown) => call('POST', '/v1/regions/sa-east/health', { body });
      assertError(await post({ ...base, reporterId: '' }), 400, 'E_VALIDATION', 'reporterId');
      assertError(await post({ ...base, healthyBackends: 3 }), 400, 'E_VALIDATION', 'healthyBackends');
      assertError(await post({ ...base, inFlight: -1 }), 400, 'E_VALIDATION', 'inFlight');
      assertError(await post({ ...base, ttlSeconds: 0 }), 400, 'E_VALIDATION', 'ttlSeconds');
      assertError(await post({ ...base, regionId: 'other' }), 400, 'E_VALIDATION', 'regionId');
      assertError(
        await post({ ...base, backends: [{ backendId: 'x', healthy: 'yes' }] }),
        400,
        'E_VALIDATION',
        'backends[0].healthy',
      );
      assertError(await post({ ...base, surprise: 1 }), 400, 'E_VALIDATION', 'surprise');
      assertError(await call('POST', '/v1/regions/nope/health', { body: base }), 404, 'E_NOT_FOUND');
    });
  });

  void describe('explain', () => {
    void it('passes a validated query to the explain function', async () => {
      const r = await call(
        'GET',
        '/v1/explain?name=www.example.test&client=192.0.2.7&ecs=198.51.100.0/24&type=AAAA',
      );
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(explained.at(-1), {
        name: 'www.example.test',
        client: '192.0.2.7',
        ecs: '198.51.100.0/24',
        type: 'AAAA',
      });
      assert.deepEqual(r.body.regions, ['eu-west']);
      const plain = await call('GET', '/v1/explain?name=www.example.test&client=2001:db8::1');
      assert.equal(plain.status, 200);
      assert.deepEqual(explained.at(-1), { name: 'www.example.test', client: '2001:db8::1', type: 'A' });
    });

    void it('names the bad parameter', async () => {
      assertError(await call('GET', '/v1/explain?client=192.0.2.7'), 400, 'E_VALIDATION', 'name');
      assertError(await call('GET', '/v1/explain?name=a.test&client=nope'), 400, 'E_VALIDATION', 'client');
      assertError(
        await call('GET', '/v1/explain?name=a.test&client=192.0.2.1&ecs=198.51.100.1/24'),
        400,
        'E_VALIDATION',
        'ecs',
      );
      assertError(
        await call('GET', '/v1/explain?name=a.test&client=192.0.2.1&type=MX'),
        400,
        'E_VALIDATION',
        'type',
      );
    });
  });

  void describe('extra routes', () => {
    void it('are served with auth on writes, the caller as the token id, and a request id', async () => {
      assertError(await call('POST', '/v1/echo', { body: { a: 1 }, token: null }), 401, 'E_UNAUTHORIZED');
      const r = await call('POST', '/v1/echo', { body: { a: 1 } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.actor, 'token:config');
      assert.ok(!r.text.includes(TOKEN));
      assert.equal(typeof r.body.requestId, 'string');
      assert.deepEqual(r.body.body, { a: 1 });
      assertError(await call('GET', '/v1/echo'), 405, 'E_METHOD_NOT_ALLOWED');
    });
  });

  void describe('routing errors', () => {
    void it('answers 404 JSON for unknown routes', async () => {
      assertError(await call('GET', '/v2/regions'), 404, 'E_NOT_FOUND');
      assertError(await call('GET', '/v1/regions/eu-west/backends/x/y/z'), 404, 'E_NOT_FOUND');
    });

    void it('answers 405 JSON with Allow for a wrong method', async () => {
      const r = await call('PUT', '/v1/regions', { body: {} });
      assertError(r, 405, 'E_METHOD_NOT_ALLOWED');
      assert.equal(r.headers.get('allow'), 'GET, POST, HEAD');
      const d = await call('GET', '/v1/regions/eu-west/drain');
      assertError(d, 405, 'E_METHOD_NOT_ALLOWED');
      assert.equal(d.headers.get('allow'), 'POST');
      assertError(await call('DELETE', '/v1/status'), 405, 'E_METHOD_NOT_ALLOWED');
      assertError(await call('POST', '/metrics'), 405, 'E_METHOD_NOT_ALLOWED');
    });

    void it('keeps serving after a burst of bad input', async () => {
      const bad = [
        call('POST', '/v1/regions', { raw: '\u0000\u0001garbage' }),
        call('POST', '/v1/regions', { raw: '{"__proto__": {"x": 1}, "id": "p"}' }),
        call('POST', '/v1/regions', { raw: 'null' }),
        call('PATCH', '/v1/regions/eu-west', { raw: '"string"' }),
        call('POST', '/v1/regions', { body: { id: 'x'.repeat(64), lat: 0, lon: 0, ipv4: ['1.2.3.4'] } }),
        call('GET', `/v1/regions/${'%'}`),
        call('GET', `/v1/regions/${'a'.repeat(5000)}`),
      ];
      for (const r of await Promise.all(bad)) {
        assert.ok(r.status >= 400 && r.status < 500, `${r.status} ${r.text}`);
        assert.equal(typeof r.body?.error?.code, 'string', r.text);
      }
      const ok = await call('GET', '/healthz');
      assert.equal(ok.status, 200);
    });
  });
});

void describe('admin API audit', () => {
  let store: MemoryStateStore;
  let records: MemoryOpsRecordStore;
  let api: AdminApi;
  let call: ReturnType<typeof client>;

  before(async () => {
    store = new MemoryStateStore({ logger: silentLogger });
    records = new MemoryOpsRecordStore();
    await store.start();
    store.attachAuditSink(auditSink(records));
    const registry = createRegistry();
    api = await startAdminApi({
      listen: { host: '127.0.0.1', port: 0 },
      store,
      token: TOKEN,
      bodyLimitBytes: BODY_LIMIT,
      logger: silentLogger,
      metrics: () => registry.metrics(),
    });
    call = client(api);
  });

  after(async () => {
    await api.close();
    await store.close();
  });

  const trail = async (): Promise<AuditRecord[]> =>
    (await records.query('audit', { order: 'asc', limit: 1000 })).items;

  void it('every region/backend write records one entry: the token fingerprint, the request id, before/after', async () => {
    const writes: [string, string, unknown, string, string][] = [
      ['POST', '/v1/regions', region('eu-west'), 'region.create', 'region/eu-west'],
      ['PATCH', '/v1/regions/eu-west', { weight: 7 }, 'region.update', 'region/eu-west'],
      ['PATCH', '/v1/regions/eu-west', { state: 'draining' }, 'region.drain', 'region/eu-west'],
      ['POST', '/v1/regions/eu-west/undrain', undefined, 'region.undrain', 'region/eu-west'],
      ['POST', '/v1/regions/eu-west/drain', undefined, 'region.drain', 'region/eu-west'],
      [
        'POST',
        '/v1/regions/eu-west/backends',
        { id: 'web-1', url: 'http://127.0.0.1:8080' },
        'backend.create',
        'backend/eu-west/web-1',
      ],
      [
        'PATCH',
        '/v1/regions/eu-west/backends/web-1',
        { weight: 3 },
        'backend.update',
        'backend/eu-west/web-1',
      ],
      [
        'POST',
        '/v1/regions/eu-west/backends/web-1/drain',
        undefined,
        'backend.drain',
        'backend/eu-west/web-1',
      ],
      [
        'POST',
        '/v1/regions/eu-west/backends/web-1/undrain',
        undefined,
        'backend.undrain',
        'backend/eu-west/web-1',
      ],
      ['DELETE', '/v1/regions/eu-west/backends/web-1', undefined, 'backend.remove', 'backend/eu-west/web-1'],
      ['DELETE', '/v1/regions/eu-west', undefined, 'region.remove', 'region/eu-west'],
    ];
    const replies: Reply[] = [];
    for (const [method, path, body] of writes) {
      const r = await call(method, path, body === undefined ? {} : { body });
      assert.ok(r.status < 300, `${method} ${path}: ${r.text}`);
      replies.push(r);
    }
    const records = await trail();
    assert.deepEqual(
      records.map((r) => [r.action, r.target]),
      writes.map(([, , , action, target]) => [action, target]),
    );
    for (const r of records) {
      assert.equal(r.actor, 'token:config');
      assert.equal(typeof r.requestId, 'string');
      assert.ok(!JSON.stringify(r).includes(TOKEN));
      assert.ok(!JSON.stringify(r).includes(tokenHashPrefix), 'no hash prefix of the token');
    }
    assert.equal(new Set(records.map((r) => r.requestId)).size, records.length, 'one request id per write');
    assert.equal(records[0]?.before, null);
    assert.deepEqual(records[0]?.after, replies[0]?.body);
    assert.deepEqual(records[1]?.before, replies[0]?.body);
    assert.deepEqual(records[1]?.after, replies[1]?.body);
    assert.deepEqual(records[5]?.after, replies[5]?.body);
    assert.equal(records.at(-1)?.after, null);
    assert.equal((records.at(-1)?.before as { id?: string } | undefined)?.id, 'eu-west');
  });

  void it('failed, refused and read-only requests record nothing', async () => {
    await call('POST', '/v1/regions', { body: region('us-east') });
    const count = (await trail()).length;
    assertError(await call('POST', '/v1/regions', { body: region('us-east') }), 409, 'E_CONFLICT');
    assertError(await call('POST', '/v1/regions', { body: region('x', { lat: 91 }) }), 400, 'E_VALIDATION');
    assertError(await call('PATCH', '/v1/regions/nope', { body: { weight: 1 } }), 404, 'E_NOT_FOUND');
    assertError(await call('POST', '/v1/regions/nope/drain'), 404, 'E_NOT_FOUND');
    assertError(await call('DELETE', '/v1/regions/us-east/backends/nope'), 404, 'E_NOT_FOUND');
    assertError(
      await call('PATCH', '/v1/regions/us-east', { body: { weight: 2 }, token: null }),
      401,
      'E_UNAUTHORIZED',
    );
    await call('GET', '/v1/regions/us-east');
    assert.equal((await trail()).length, count);
  });
});

void describe('admin API with an unavailable store', () => {
  let api: AdminApi;
  let inner: MemoryStateStore;

  before(async () => {
    inner = new MemoryStateStore({ logger: silentLogger });
    await inner.start();
    const down = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'status') return (): StoreStatus => ({ ...target.status(), connected: false });
        if (prop === 'createRegion') {
          return () =>
            Promise.reject(new MeridianError('E_UNAVAILABLE', 'redis is unreachable: connect ECONNREFUSED'));
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    }) as StateStore;
    api = await startAdminApi({
      listen: { host: '127.0.0.1', port: 0 },
      store: down,
      token: TOKEN,
      bodyLimitBytes: BODY_LIMIT,
      logger: silentLogger,
      metrics: () => Promise.resolve(''),
    });
  });

  after(async () => {
    await api.close();
    await inner.close();
  });

  void it('answers 503 on /healthz and on writes, with an error body', async () => {
    const call = client(api);
    const h = await call('GET', '/healthz');
    assert.equal(h.status, 503);
    assert.equal(h.body.store.connected, false);
    assert.equal(h.body.error.code, 'E_UNAVAILABLE');
    assertError(await call('POST', '/v1/regions', { body: region('x-1') }), 503, 'E_UNAVAILABLE');
    assert.equal((await call('GET', '/v1/regions')).status, 200);
  });
});
