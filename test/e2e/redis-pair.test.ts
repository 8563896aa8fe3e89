// Two `meridian serve` processes sharing one real redis-server: a write through one node's admin
// API shows up in the other's within a second.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startRedis, type RedisHandle } from '../helpers/redis-server.js';
import {
  runCli,
  startMeridian,
  tempDir,
  writeTestConfig,
  type MeridianProcess,
} from '../helpers/meridian-process.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'pair-token-abcdefgh';

async function regionsOf(node: MeridianProcess): Promise<{ id: string; state: string; weight: number }[]> {
  const res = await fetch(`${node.apiUrl}/v1/regions`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200);
  return ((await res.json()) as { regions: { id: string; state: string; weight: number }[] }).regions;
}

void describe('two meridian serve nodes on one redis', () => {
  const dir = tempDir('meridian-pair-');
  let redis: RedisHandle;
  let a: MeridianProcess;
  let b: MeridianProcess;

  before(async () => {
    redis = await startRedis();
    const env = { MERIDIAN_REDIS_URL: redis.url, MERIDIAN_API_TOKEN: TOKEN };
    // Same file for both: state.backend is switched to redis by MERIDIAN_REDIS_URL, ports are 0.
    const config = writeTestConfig(dir);
    [a, b] = await Promise.all([startMeridian(config, env), startMeridian(config, env)]);
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  void it('both nodes use the redis store', async () => {
    for (const node of [a, b]) {
      const health = (await (await fetch(`${node.apiUrl}/healthz`)).json()) as {
        store: { kind: string; connected: boolean };
      };
      assert.equal(health.store.kind, 'redis');
      assert.equal(health.store.connected, true);
    }
  });

  void it('a region added through node A appears on node B within 1 s', async () => {
    assert.deepEqual(await regionsOf(b), []);
    const res = await fetch(`${a.apiUrl}/v1/regions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'eu-west', lat: 50.1, lon: 8.7, ipv4: ['192.0.2.10'] }),
    });
    assert.equal(res.status, 201);
    await waitFor(
      'eu-west on B',
      async () => (await regionsOf(b)).some((r) => r.id === 'eu-west' && r.state === 'active'),
      { timeoutMs: 1000 },
    );
  });

  void it('a drain through the CLI on node B reaches node A within 1 s', async () => {
    const r = await runCli(['region', 'drain', 'eu-west'], {
      MERIDIAN_API_URL: b.apiUrl,
      MERIDIAN_API_TOKEN: TOKEN,
    });
    assert.equal(r.code, 0, r.stderr);
    await waitFor(
      'drain on A',
      async () => (await regionsOf(a)).find((x) => x.id === 'eu-west')?.state === 'draining',
      { timeoutMs: 1000 },
    );
  });

  void it('a removal through node A disappears from node B within 1 s', async () => {
    const res = await fetch(`${a.apiUrl}/v1/regions/eu-west`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(res.status, 204);
    await waitFor('removal on B', async () => (await regionsOf(b)).length === 0, { timeoutMs: 1000 });
  });
});
