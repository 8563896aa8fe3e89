// An empty Redis never wipes the fleet: two `meridian serve` nodes on one real redis-server that is
// killed and restarted empty on the same port (what `SHUTDOWN NOSAVE` without persistence does).
// Both nodes keep their regions and keep answering DNS unchanged, refuse writes, say so in /healthz
// and raise a critical alert; `meridian state reseed --from-node` writes one node's snapshot back,
// after which writes work again and both nodes agree.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';

import { startDnsLoad, type DnsTarget } from '../helpers/dns-load.js';
import {
  runCli,
  startMeridian,
  tempDir,
  writeTestConfig,
  type MeridianProcess,
} from '../helpers/meridian-process.js';
import { startRedis, type RedisHandle } from '../helpers/redis-server.js';
import { api, dnsTarget, healthz, reportHealthy } from './fault-helpers.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'empty-redis-token-abcdefgh';
const EU = '192.0.2.10';
const US = '198.51.100.10';
const FRANKFURT = '192.0.2.0/24';
const REPORT_TTL_S = 2;

async function regionIds(node: MeridianProcess): Promise<string[]> {
  const body = (await (
    await fetch(`${node.apiUrl}/v1/regions`, { headers: { authorization: `Bearer ${TOKEN}` } })
  ).json()) as { regions: { id: string }[] };
  return body.regions.map((r) => r.id).sort();
}

async function policyIds(node: MeridianProcess): Promise<string[]> {
  const body = (await (
    await fetch(`${node.apiUrl}/v1/policies`, { headers: { authorization: `Bearer ${TOKEN}` } })
  ).json()) as { policies: { id: string }[] };
  return body.policies.map((p) => p.id).sort();
}

void describe('Redis restarted empty under two nodes', () => {
  const dir = tempDir('meridian-empty-');
  let redis: RedisHandle;
  let nodes: MeridianProcess[] = [];
  let targets: DnsTarget[] = [];

  before(async () => {
    redis = await startRedis();
    const config = writeTestConfig(dir, (doc) => {
      // No start-up grace: expired reports must count at once, or the test proves nothing.
      doc.dns.steering.healthGraceSeconds = 0;
      doc.dns.zones[0].balanced.push({
        name: 'closed.example.test',
        ttl: 30,
        regions: ['eu'],
        allDown: 'fail-closed',
      });
    });
    const env = { MERIDIAN_REDIS_URL: redis.url, MERIDIAN_API_TOKEN: TOKEN };
    nodes = await Promise.all([startMeridian(config, env), startMeridian(config, env)]);
    targets = nodes.map(dnsTarget);
    const a = nodes[0]!;
    await api(a, 'POST', '/v1/regions', TOKEN, { id: 'eu', lat: 50.11, lon: 8.68, ipv4: [EU] });
    await api(a, 'POST', '/v1/regions', TOKEN, { id: 'us', lat: 39.04, lon: -77.49, ipv4: [US] });
    await waitFor('both regions on node B', async () => (await regionIds(nodes[1]!)).length === 2);
    await api(a, 'POST', '/v1/policies', TOKEN, {
      id: 'edge-waf',
      type: 'waf',
      scope: 'global',
      enabled: true,
      description: 'kept through an empty Redis',
      rules: [
        { id: 'no-git', pattern: '/\\.git', target: 'path', action: 'block', priority: 1, enabled: true },
      ],
    });
    await waitFor('the policy on node B', async () => (await policyIds(nodes[1]!)).includes('edge-waf'));
  });

  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  void it('both nodes keep their regions and answers, refuse writes, alert and say degraded', async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    await reportHealthy(a, TOKEN, ['eu', 'us'], REPORT_TTL_S);
    const load = await startDnsLoad({
      targets,
      name: 'closed.example.test',
      ecs: FRANKFURT,
      qps: 40,
      expect: [EU],
      slowMs: 500,
    });
    const loadStarted = Date.now();
    await redis.restart(); // killed, then a fresh, empty redis-server on the same port
    for (const node of [a, b]) {
      await waitFor(
        `data loss noticed by ${node.apiUrl}`,
        async () => {
          const h = await healthz(node);
          return h.httpStatus === 503 && h.reasons.some((r) => r.includes('lost the fleet'));
        },
        { timeoutMs: 10_000 },
      );
    }
    // Past the report TTL: health is frozen, nothing expires for lack of writes. The load runs for
    // at least 4 s in all (over 100 queries at 40/s), however fast the restart was noticed.
    const past = Math.max(REPORT_TTL_S * 1000 + 500, 4000 - (Date.now() - loadStarted));
    await new Promise((r) => setTimeout(r, past));
    const counts = await load.stop();
    assert.ok(counts.sent > 100, `sent ${counts.sent}`);
    assert.equal(counts.wrong, 0, `wrong answers: ${counts.samples.join('; ')}`);
    assert.equal(counts.failed, 0);
    for (const node of [a, b]) assert.deepEqual(await regionIds(node), ['eu', 'us']);

    const refused = await fetch(`${b.apiUrl}/v1/regions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'ap', lat: 1.35, lon: 103.8, ipv4: ['203.0.113.10'] }),
    });
    assert.equal(refused.status, 503);
    assert.match(await refused.text(), /state reseed --from-node/);
    // The zones stay served (the load above saw no REFUSED) and zone changes are refused too.
    const zoneRefused = await fetch(`${b.apiUrl}/v1/zones/example.test/records`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'lost', type: 'A', values: ['192.0.2.77'] }),
    });
    assert.equal(zoneRefused.status, 503);
    assert.match(await zoneRefused.text(), /lost the zone data.*state reseed/);
    // The policies stay enforced (a WAF that silently stopped blocking would be worse than none).
    for (const node of [a, b]) assert.deepEqual(await policyIds(node), ['edge-waf']);
    const policyRefused = await fetch(`${b.apiUrl}/v1/policies/edge-waf/disable`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(policyRefused.status, 503);
    assert.match(await policyRefused.text(), /lost the policy data/);

    const metrics = await (await fetch(`${a.apiUrl}/metrics`)).text();
    assert.match(metrics, /^meridian_state_data_lost 1$/m);
    await waitFor('the critical alert', async () => {
      const page = (await (
        await fetch(`${a.apiUrl}/v1/alerts?type=state_data_lost`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        })
      ).json()) as {
        items: { level: string }[];
      };
      return page.items.some((x) => x.level === 'critical');
    });
  });

  void it('the CLI names what is missing and refuses to reseed a store that lost nothing', async () => {
    const env = { MERIDIAN_API_URL: nodes[0]!.apiUrl, MERIDIAN_API_TOKEN: TOKEN };
    const missing = await runCli(['state', 'reseed'], env);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--from-node is required/);
    const bad = await runCli(['state', 'reseed', '--from-node', 'ftp://x'], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--from-node: expected/);
  });

  void it('after `meridian state reseed --from-node`, writes work and both nodes agree', async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    const env = { MERIDIAN_API_TOKEN: TOKEN };
    const r = await runCli(['state', 'reseed', '--from-node', a.apiUrl], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /2 region\(s\)/);
    assert.match(r.stdout, /1 zone\(s\), 1 policy\(ies\)/);
    for (const node of [a, b]) {
      await waitFor(`/healthz ok on ${node.apiUrl}`, async () => (await healthz(node)).httpStatus === 200);
    }
    await api(b, 'POST', '/v1/regions', TOKEN, { id: 'ap', lat: 1.35, lon: 103.8, ipv4: ['203.0.113.10'] });
    await waitFor('ap on node A', async () => (await regionIds(a)).includes('ap'));
    assert.deepEqual(await regionIds(a), await regionIds(b));
    // Zone changes work again and reach the other node.
    await api(b, 'POST', '/v1/zones/example.test/records', TOKEN, {
      name: 'after-reseed',
      type: 'A',
      values: ['192.0.2.78'],
    });
    await waitFor('the new record on node A', async () => {
      const zone = (await (
        await fetch(`${a.apiUrl}/v1/zones/example.test`, { headers: { authorization: `Bearer ${TOKEN}` } })
      ).json()) as { records: { name: string }[] };
      return zone.records.some((x) => x.name.startsWith('after-reseed.'));
    });
    await reportHealthy(b, TOKEN, ['eu'], REPORT_TTL_S);

    // A second reseed would overwrite a healthy store: refused without --force.
    const again = await runCli(['state', 'reseed', '--from-node', b.apiUrl], env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /nothing was lost/);
  });
});
