// Redis high availability for real: two `meridian serve` nodes on a Sentinel topology (primary,
// replica, three sentinels). The primary is SIGKILLed under DNS load while node A
// keeps writing: no DNS query fails or gets a wrong answer, writes resume on the promoted replica,
// and every write that was acknowledged before or after the kill is there on both nodes.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';

import { startDnsLoad, type DnsTarget } from '../helpers/dns-load.js';
import {
  startMeridian,
  tempDir,
  writeTestConfig,
  type MeridianProcess,
} from '../helpers/meridian-process.js';
import { SENTINEL_MASTER, startSentinelTopology, type SentinelTopology } from '../helpers/sentinel.js';
import { api, dnsTarget, healthz, reportHealthy } from './fault-helpers.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'sentinel-token-abcdefgh';
const EU = '192.0.2.10';
const US = '198.51.100.10';
const FRANKFURT = '192.0.2.0/24';

async function regionIds(node: MeridianProcess): Promise<string[]> {
  const body = (await (
    await fetch(`${node.apiUrl}/v1/regions`, { headers: { authorization: `Bearer ${TOKEN}` } })
  ).json()) as { regions: { id: string }[] };
  return body.regions.map((r) => r.id).sort();
}

void describe('Sentinel failover under load', () => {
  const dir = tempDir('meridian-sentinel-');
  let topology: SentinelTopology;
  let nodes: MeridianProcess[] = [];
  let targets: DnsTarget[] = [];

  before(async () => {
    // Password-protected primary and replica: the URL's credentials must reach every connection the
    // node opens through the sentinels (state, ops records, tasks, policies) — one Redis factory.
    topology = await startSentinelTopology({ password: 'sentinel-test-pass' });
    const config = writeTestConfig(dir, (doc) => {
      doc.dns.steering.healthGraceSeconds = 0;
      doc.state = {
        ...doc.state,
        backend: 'redis',
        redis: {
          // Credentials come from the URL; its host is unused with sentinels.
          url:
            topology.password === undefined
              ? 'redis://127.0.0.1:6379'
              : `redis://:${topology.password}@127.0.0.1:6379`,
          sentinels: topology.sentinels,
          sentinelName: SENTINEL_MASTER,
          commandTimeoutMs: 1000,
        },
      };
    });
    const env = { MERIDIAN_API_TOKEN: TOKEN };
    nodes = await Promise.all([startMeridian(config, env), startMeridian(config, env)]);
    targets = nodes.map(dnsTarget);
    const a = nodes[0]!;
    await api(a, 'POST', '/v1/regions', TOKEN, { id: 'eu', lat: 50.11, lon: 8.68, ipv4: [EU] });
    await api(a, 'POST', '/v1/regions', TOKEN, { id: 'us', lat: 39.04, lon: -77.49, ipv4: [US] });
    await reportHealthy(a, TOKEN, ['eu', 'us'], 3);
    await waitFor('both regions on node B', async () => (await regionIds(nodes[1]!)).length === 2);
  });

  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await topology?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  void it('kills the primary: 0 failed or wrong answers, writes resume, nothing acknowledged lost', async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    const load = await startDnsLoad({
      targets,
      name: 'www.example.test',
      ecs: FRANKFURT,
      qps: 50,
      expect: [EU],
    });
    // Node A writes a region (far from Frankfurt: answers stay eu) every 200 ms and a health report
    // with each; the acknowledged regions must survive.
    const acknowledged: string[] = [];
    let writing = true;
    let seq = 0;
    const writer = (async () => {
      while (writing) {
        const id = `w-${seq++}`;
        const res = await fetch(`${a.apiUrl}/v1/regions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ id, lat: 10, lon: 10, ipv4: ['203.0.113.1'] }),
        }).catch(() => undefined);
        if (res?.status === 201) acknowledged.push(id);
        await res?.text();
        await fetch(`${a.apiUrl}/v1/regions/eu/health`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            reporterId: 'test-proxy',
            healthyBackends: 1,
            totalBackends: 1,
            ttlSeconds: 3,
          }),
        })
          .then((r) => r.text())
          .catch(() => undefined);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    await new Promise((r) => setTimeout(r, 3000)); // load before the kill
    const oldPrimary = await topology.primaryPort();
    topology.killDataNode(oldPrimary);
    const killedAt = Date.now();
    await waitFor('a new primary', async () => (await topology.primaryPort()) !== oldPrimary, {
      timeoutMs: 20_000,
    });
    const ackedAtKill = acknowledged.length;
    await waitFor('writes acknowledged after the failover', () => acknowledged.length > ackedAtKill + 3, {
      timeoutMs: 20_000,
    }).catch(async (err: unknown) => {
      const h = await (await fetch(`${a.apiUrl}/healthz`)).text();
      throw new Error(`${String(err)}; node A: ${h}; stderr: ${a.stderr().slice(-3000)}`);
    });
    const resumedMs = Date.now() - killedAt;
    // Keep the load going a little past the failover (about 15 s of load in all).
    await new Promise((r) => setTimeout(r, Math.max(0, 12_000 - resumedMs)));
    writing = false;
    await writer;
    const counts = await load.stop();
    assert.ok(counts.sent > 500, `sent ${counts.sent}`);
    assert.equal(counts.failed, 0, 'unanswered queries');
    assert.equal(counts.wrong, 0, `wrong answers: ${counts.samples.join('; ')}`);
    for (const node of [a, b]) {
      await waitFor(`every acknowledged write on ${node.apiUrl}`, async () => {
        const ids = new Set(await regionIds(node));
        return acknowledged.every((id) => ids.has(id));
      });
      await waitFor(`/healthz ok on ${node.apiUrl}`, async () => (await healthz(node)).httpStatus === 200);
    }
    assert.ok(acknowledged.length > 20, `acknowledged ${acknowledged.length}`);
  });
});
