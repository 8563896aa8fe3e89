// The console's routes without a browser, on a whole node in this process (runServe, memory store,
// DNS on a free port): static files under the CSP and nothing outside the console's folders, the
// overview read model (regions placed on the map, countries coloured by the real steering
// decision), the policy hit counts parsed from the metrics text, and alert acknowledgements.
import { strict as assert } from 'node:assert';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { sumByLabel } from '../../../src/api/console/routes.js';
import { runServe, type RunningServer } from '../../../src/node/serve.js';
import { tempDir, writeTestConfig } from '../../helpers/meridian-process.js';

const BOOT = 'console-routes-token-0123';

interface Overview {
  balancedName: string | null;
  regions: { id: string; state: string; x?: number; y?: number; health: { status: string } }[];
  countries: { id: string; country: string; region: string | null; rule: string }[];
}

void describe('console routes', () => {
  const dir = tempDir('meridian-console-routes-');
  let node: RunningServer;
  let base: string;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${BOOT}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, headers: res.headers, text: await res.text() };
  };

  before(async () => {
    const config = writeTestConfig(dir, (doc) => {
      doc.api.token = BOOT;
      doc.log = { level: 'silent' };
    });
    node = await runServe({ configPath: config, env: {}, print: () => {} });
    base = node.api?.url ?? '';
    for (const region of [
      { id: 'eu-west', lat: 50.1, lon: 8.7, ipv4: ['192.0.2.10'] },
      { id: 'ap-south', lat: 1.35, lon: 103.8, ipv4: ['203.0.113.10'] },
    ])
      assert.equal((await call('POST', '/v1/regions', region)).status, 201);
  });

  after(async () => {
    await node.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the page, its modules, uPlot, the map and yaml with the CSP, and nothing else', async () => {
    for (const [path, type] of [
      ['/console', 'text/html'],
      ['/console/app.js', 'text/javascript'],
      ['/console/console.css', 'text/css'],
      ['/console/uPlot.iife.min.js', 'text/javascript'],
      ['/console/uPlot.min.css', 'text/css'],
      ['/console/world.json', 'application/json'],
      ['/console/yaml/index.js', 'text/javascript'],
      ['/console/yaml/compose/composer.js', 'text/javascript'],
      ['/console/yaml/schema/yaml-1.1/binary.js', 'text/javascript'],
    ] as const) {
      const res = await fetch(`${base}${path}`);
      assert.equal(res.status, 200, path);
      assert.ok(
        res.headers.get('content-type')?.startsWith(type),
        `${path}: ${res.headers.get('content-type')}`,
      );
      assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/, path);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    }
    const map = JSON.parse(await (await fetch(`${base}/console/world.json`)).text()) as {
      countries: { id: string; d: string }[];
    };
    assert.equal(map.countries.length, 177);
    assert.ok(map.countries.every((c) => c.d.startsWith('M')));
    for (const path of [
      '/console/..%2Fpackage.json',
      '/console/yaml/..%2F..%2Fpackage.json',
      '/console/routes.ts',
      '/console/nothing.js',
      '/console/.hidden.js',
    ]) {
      const res = await fetch(`${base}${path}`);
      assert.equal(res.status, 404, path);
      assert.match(await res.text(), /"code":"E_NOT_FOUND"/);
    }
  });

  it('places regions on the map and colours countries by the steering decision, draining included', async () => {
    const read = async () => JSON.parse((await call('GET', '/v1/console/overview')).text) as Overview;
    let overview = await read();
    assert.equal(overview.balancedName, 'www.example.test');
    const eu = overview.regions.find((r) => r.id === 'eu-west');
    assert.ok(
      eu?.x !== undefined && eu.y !== undefined && eu.x > 400 && eu.x < 600 && eu.y < 200,
      JSON.stringify(eu),
    );
    const byCountry = (o: Overview, code: string) => o.countries.find((c) => c.country === code);
    assert.equal(byCountry(overview, 'DE')?.region, 'eu-west');
    assert.equal(byCountry(overview, 'SG')?.region ?? byCountry(overview, 'MY')?.region, 'ap-south');
    assert.ok(overview.countries.length > 100);
    assert.equal((await call('POST', '/v1/regions/eu-west/drain')).status, 200);
    overview = await read();
    assert.equal(overview.regions.find((r) => r.id === 'eu-west')?.state, 'draining');
    assert.equal(byCountry(overview, 'DE')?.region, 'ap-south');
    assert.ok(overview.countries.every((c) => c.region !== 'eu-west'));
  });

  it('counts WAF matches by rule and by policy from the metrics text', async () => {
    const text = [
      '# HELP meridian_policy_waf_matches_total WAF rule matches by rule (policy/rule).',
      '# TYPE meridian_policy_waf_matches_total counter',
      'meridian_policy_waf_matches_total{rule="block-secret/secret-path"} 3',
      'meridian_policy_waf_matches_total{region="eu",rule="block-secret/secret-path"} 2',
      'meridian_policy_waf_matches_total{rule="other/r1"} 1',
      'meridian_policy_decisions_total{type="waf",action="block"} 5',
    ].join('\n');
    assert.deepEqual(sumByLabel(text, 'meridian_policy_waf_matches_total', 'rule'), {
      'block-secret/secret-path': 5,
      'other/r1': 1,
    });
    assert.deepEqual(sumByLabel(text, 'meridian_policy_decisions_total', 'action'), { block: 5 });
    const hits = await call('GET', '/v1/console/policy-hits');
    assert.equal(hits.status, 200);
    assert.deepEqual(Object.keys(JSON.parse(hits.text) as object).sort(), [
      'decisions',
      'wafByPolicy',
      'wafRules',
    ]);
  });

  it('records an alert acknowledgement in the audit log and refuses a malformed id', async () => {
    const bad = await call('POST', '/v1/alerts/not-an-id/acknowledge');
    assert.equal(bad.status, 400);
    assert.match(bad.text, /"field":"id"/);
    const ok = await call('POST', '/v1/alerts/1796338974433-0/acknowledge');
    assert.equal(ok.status, 200, ok.text);
    const audit = JSON.parse((await call('GET', '/v1/audit?target=alert/*')).text) as {
      items: { action: string; target: string; actor: string }[];
    };
    assert.deepEqual(
      audit.items.map((a) => [a.action, a.target, a.actor]),
      [['alert.acknowledge', 'alert/1796338974433-0', 'token:config']],
    );
  });
});
