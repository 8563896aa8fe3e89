// A proxy node reporting its region's health through the admin API with a `reporter` token
// (proxy.report.api), as the issue asks: two whole nodes on one real Redis, an API node and a proxy
// node. The reports arrive; the same token cannot create a region nor report for another region
// (403); and when the API goes away the proxy keeps its last state, says so in its metrics, and
// reports again once the API is back.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runServe, type RunningServer } from '../../../src/node/serve.js';
import { startBackends, type TestBackend } from '../../helpers/backends.js';
import { freePort, startRedis, type RedisHandle } from '../../helpers/redis-server.js';
import { waitFor } from '../../helpers/wait.js';

const BOOT = 'bootstrap-token-0123456789';

async function call(base: string, method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text) as Record<string, unknown> };
}

describe('a proxy reporting through the admin API with a reporter token', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-api-reporter-'));
  let redis: RedisHandle;
  let backends: TestBackend[];
  let apiPort: number;
  let base: string;
  let apiNode: RunningServer | undefined;
  let proxyNode: RunningServer | undefined;
  let reporterToken: string;

  const startApiNode = async (): Promise<RunningServer> => {
    const file = join(dir, 'api.yaml');
    writeFileSync(
      file,
      [
        'nodeId: api-node',
        `state: { backend: redis, redis: { url: "${redis.url}" } }`,
        'dns: { enabled: false }',
        `api: { listen: "127.0.0.1:${apiPort}", token: "${BOOT}" }`,
        'log: { level: silent }',
        '',
      ].join('\n'),
    );
    return runServe({ configPath: file, env: {}, print: () => {} });
  };

  /** The proxy node's `meridian_proxy_health_report*` values, by series. */
  const reportMetrics = async (): Promise<string> => (await proxyNode?.registry.metrics()) ?? '';

  before(async () => {
    redis = await startRedis();
    backends = await startBackends(1, 'r');
    apiPort = await freePort();
    base = `http://127.0.0.1:${apiPort}`;
    apiNode = await startApiNode();
    for (const [id, lon] of [
      ['eu-west', 2],
      ['us-east', -75],
    ] as const) {
      const r = await call(base, 'POST', '/v1/regions', BOOT, { id, lat: 45, lon, ipv4: ['127.0.0.1'] });
      assert.equal(r.status, 201, r.text);
    }
    const backend = await call(base, 'POST', '/v1/regions/eu-west/backends', BOOT, {
      id: 'web-1',
      url: backends[0]?.url,
    });
    assert.equal(backend.status, 201, backend.text);
    const user = await call(base, 'POST', '/v1/users', BOOT, {
      name: 'proxy-eu',
      password: 'proxy-eu-Pa55word!',
      roles: ['reporter'],
      regions: ['eu-west'],
    });
    assert.equal(user.status, 201, user.text);
    const token = await call(base, 'POST', '/v1/tokens', BOOT, { user: 'proxy-eu', name: 'health' });
    assert.equal(token.status, 201, token.text);
    reporterToken = String(token.json.token);
    writeFileSync(join(dir, 'reporter.token'), `${reporterToken}\n`, { mode: 0o600 });

    const file = join(dir, 'proxy.yaml');
    writeFileSync(
      file,
      [
        'nodeId: proxy-eu-1',
        `state: { backend: redis, redis: { url: "${redis.url}" } }`,
        'dns: { enabled: false }',
        'api: { enabled: false }',
        'log: { level: silent }',
        'proxy:',
        '  region: eu-west',
        '  listen: ["127.0.0.1:0"]',
        `  report: { intervalMs: 200, ttlMs: 3000, api: { url: "${base}", tokenFile: reporter.token, timeoutMs: 1000 } }`,
        '',
      ].join('\n'),
    );
    proxyNode = await runServe({ configPath: file, env: {}, print: () => {} });
  });

  after(async () => {
    await proxyNode?.close();
    await apiNode?.close();
    for (const b of backends) await b.close();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reports its region's health through the API", async () => {
    const detail = await waitFor('the proxy-eu-1 report with its healthy backend', async () => {
      const r = await call(base, 'GET', '/v1/regions/eu-west/health', BOOT);
      const reports = r.json.reports as { reporterId: string; healthyBackends: number }[];
      return reports.find((x) => x.reporterId === 'proxy-eu-1' && x.healthyBackends === 1);
    });
    assert.equal(detail.healthyBackends, 1);
    assert.match(await reportMetrics(), /meridian_proxy_health_report_failing\{region="eu-west"\} 0/);
    // The token the proxy reports with is the reporter's, bound to eu-west.
    const whoami = await call(base, 'GET', '/v1/whoami', reporterToken);
    assert.deepEqual([whoami.json.user, whoami.json.roles], ['proxy-eu', ['reporter']]);
  });

  it('the same token cannot create a region nor report for another region (403)', async () => {
    const create = await call(base, 'POST', '/v1/regions', reporterToken, {
      id: 'evil',
      lat: 0,
      lon: 0,
      ipv4: ['127.0.0.1'],
    });
    assert.equal(create.status, 403, create.text);
    const error = create.json.error as { code: string; message: string };
    assert.equal(error.code, 'E_FORBIDDEN');
    assert.match(error.message, /needs the "write" permission, which role reporter does not grant/);
    const elsewhere = await call(base, 'POST', '/v1/regions/us-east/health', reporterToken, {
      reporterId: 'proxy-eu-1',
      healthyBackends: 1,
      totalBackends: 1,
    });
    assert.equal(elsewhere.status, 403, elsewhere.text);
    assert.match(elsewhere.text, /reports only for eu-west/);
    const regions = await call(base, 'GET', '/v1/regions', BOOT);
    assert.ok(!regions.text.includes('"evil"'));
  });

  it('survives an API outage: keeps serving, shows the failure in its metrics, reports again after', async () => {
    await apiNode?.close();
    apiNode = undefined;
    await waitFor('the failing gauge', async () =>
      /meridian_proxy_health_report_failing\{region="eu-west"\} 1/.test(await reportMetrics()),
    );
    assert.match(
      await reportMetrics(),
      /meridian_proxy_health_reports_total\{region="eu-west",result="failed"\} [1-9]/,
    );
    apiNode = await startApiNode();
    await waitFor('reports flowing again', async () =>
      /meridian_proxy_health_report_failing\{region="eu-west"\} 0/.test(await reportMetrics()),
    );
    const r = await call(base, 'GET', '/v1/regions/eu-west/health', BOOT);
    const reports = r.json.reports as { reporterId: string; reportedAt: number }[];
    assert.ok(reports.some((x) => x.reporterId === 'proxy-eu-1'));
  });
});
