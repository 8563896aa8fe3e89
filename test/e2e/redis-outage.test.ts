// Last known state is sacred: two `meridian serve` nodes on one real redis-server that hangs
// (SIGSTOP) for longer than the health reports' TTL. Both nodes keep answering exactly as before,
// each answer fast (the answer path never waits on Redis), `fail-closed` never turns into NODATA,
// /healthz says degraded; once Redis is back and reports resume, expiry works as usual again.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';

import { DnsProbe, startDnsLoad, type DnsTarget } from '../helpers/dns-load.js';
import {
  startMeridian,
  tempDir,
  writeTestConfig,
  type MeridianProcess,
} from '../helpers/meridian-process.js';
import { startRedis, type RedisHandle } from '../helpers/redis-server.js';
import { api, dnsTarget, redisPid, reportHealthy } from './fault-helpers.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'outage-token-abcdefgh';
const EU = '192.0.2.10';
const US = '198.51.100.10';
const FRANKFURT = '192.0.2.0/24';
const REPORT_TTL_S = 2;
/**
 * Every answer during the hang must come within this bound. The fault it guards against is answers
 * waiting on Redis (1–3 s); loopback answers take a few ms, but this machine is shared (load above 4
 * per core seen), so the bound leaves room for scheduling noise.
 */
const SLOW_MS = 500;

void describe('a Redis hang longer than the report TTL', () => {
  const dir = tempDir('meridian-outage-');
  let redis: RedisHandle;
  let nodes: MeridianProcess[] = [];
  let targets: DnsTarget[] = [];
  let pid = 0;

  before(async () => {
    redis = await startRedis();
    pid = await redisPid(redis);
    const config = writeTestConfig(dir, (doc) => {
      // No start-up grace: expired reports must count at once, or the test proves nothing.
      doc.dns.steering.healthGraceSeconds = 0;
      // Answering workers fed over IPC by the primary that holds the Redis store.
      doc.dns.workers = 2;
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
  });

  after(async () => {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // already gone
    }
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  void it('answers stay the same and fast while Redis hangs, /healthz says degraded', async () => {
    const a = nodes[0]!;
    await reportHealthy(a, TOKEN, ['eu', 'us'], REPORT_TTL_S);
    const probe = await DnsProbe.open();
    try {
      await waitFor('both nodes answering eu for closed.example.test', async () => {
        for (const t of targets) {
          const r = await probe.query(t, 'closed.example.test', { ecs: FRANKFURT });
          if (r.addresses[0] !== EU) return false;
        }
        return true;
      });
    } finally {
      probe.close();
    }
    const www = await startDnsLoad({
      targets,
      name: 'www.example.test',
      ecs: FRANKFURT,
      qps: 40,
      expect: [EU],
      slowMs: SLOW_MS,
    });
    const closed = await startDnsLoad({
      targets,
      name: 'closed.example.test',
      ecs: FRANKFURT,
      qps: 40,
      expect: [EU],
      slowMs: SLOW_MS,
    });
    // A fresh report just before the hang: it has REPORT_TTL_S left when Redis stops answering.
    await reportHealthy(a, TOKEN, ['eu', 'us'], REPORT_TTL_S);
    process.kill(pid, 'SIGSTOP');
    const hungAt = Date.now();
    try {
      for (const node of nodes) {
        await waitFor(
          `/healthz degraded on ${node.apiUrl}`,
          async () => {
            const res = await fetch(`${node.apiUrl}/healthz`);
            const body = (await res.json()) as { status: string; reasons?: string[] };
            return res.status === 503 && body.status === 'degraded' && (body.reasons?.length ?? 0) > 0;
          },
          { timeoutMs: 5000 },
        );
      }
      // A write during the hang fails at once with a clear 503 instead of waiting on Redis.
      const writeStarted = Date.now();
      const refused = await fetch(`${a.apiUrl}/v1/regions/eu/health`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reporterId: 'test-proxy', healthyBackends: 1, totalBackends: 1 }),
      });
      assert.equal(refused.status, 503);
      assert.ok(Date.now() - writeStarted < 500, `refused after ${Date.now() - writeStarted} ms`);
      const metrics = await (await fetch(`${a.apiUrl}/metrics`)).text();
      assert.match(metrics, /^meridian_state_degraded 1$/m);
      assert.match(metrics, /^meridian_state_redis_connected\{backend="redis"\} 0$/m);
      assert.match(metrics, /^meridian_state_health_frozen_seconds [0-9.]+$/m);
      // The scenario: Redis stays hung for twice the report TTL (nothing to poll for here).
      const remaining = hungAt + 2 * REPORT_TTL_S * 1000 + 1000 - Date.now();
      if (remaining > 0) await new Promise((r) => setTimeout(r, remaining));
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const counts = [await www.stop(), await closed.stop()];
    for (const c of counts) {
      assert.ok(c.sent > 100, `sent ${c.sent}`);
      assert.equal(c.wrong, 0, `wrong answers during the hang: ${c.samples.join('; ')}`);
      assert.equal(c.failed, 0, 'unanswered queries during the hang');
      assert.equal(
        c.slow,
        0,
        `answers slower than ${SLOW_MS} ms during the hang (max ${Math.round(c.maxMs)} ms)`,
      );
    }
  });

  void it('after Redis returns, reports are written again and expire normally', async () => {
    const a = nodes[0]!;
    for (const node of nodes) {
      await waitFor(`/healthz ok on ${node.apiUrl}`, async () => (await fetch(`${node.apiUrl}/healthz`)).ok, {
        timeoutMs: 10_000,
      });
    }
    await reportHealthy(a, TOKEN, ['eu', 'us'], REPORT_TTL_S);
    const metrics = await (await fetch(`${a.apiUrl}/metrics`)).text();
    assert.match(metrics, /^meridian_state_degraded 0$/m);
    assert.match(metrics, /^meridian_state_failed_writes_total [1-9]/m, 'the writes tried during the hang');
    assert.match(metrics, /^meridian_state_last_write_age_seconds 0\.\d+$/m);
    // No more reports: eu expires and the fail-closed name answers NODATA again, as it should.
    const probe = await DnsProbe.open();
    try {
      await waitFor(
        'eu expired on both nodes',
        async () => {
          for (const t of targets) {
            const r = await probe.query(t, 'closed.example.test', { ecs: FRANKFURT });
            if (r.rcode !== 0 || r.addresses.length !== 0) return false;
          }
          return true;
        },
        { timeoutMs: REPORT_TTL_S * 1000 + 5000 },
      );
    } finally {
      probe.close();
    }
  });
});
