// Two `meridian serve` processes on one real redis-server: a user and token created through node A
// work on node B; a token revoked (and a user disabled) through A fails on B within 1 s; a reporter
// token posts health reports for its region on B but cannot create a region; and the Redis dump
// holds neither the token nor the password in plain text.
import { strict as assert } from 'node:assert';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { startRedis, type RedisHandle } from '../helpers/redis-server.js';
import {
  startMeridian,
  tempDir,
  writeTestConfig,
  type MeridianProcess,
} from '../helpers/meridian-process.js';
import { waitFor } from '../helpers/wait.js';

const BOOT = 'two-nodes-bootstrap-token';
const PASSWORD = 'two nodes password 123';

async function call(
  node: MeridianProcess,
  method: string,
  path: string,
  token: string | undefined,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${node.apiUrl}${path}`, {
    method,
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

describe('users and tokens across two nodes on one redis', () => {
  const dir = tempDir('meridian-access-pair-');
  let redis: RedisHandle;
  let a: MeridianProcess;
  let b: MeridianProcess;

  before(async () => {
    redis = await startRedis();
    const env = { MERIDIAN_REDIS_URL: redis.url, MERIDIAN_API_TOKEN: BOOT };
    const config = writeTestConfig(dir, (doc) => {
      doc.dns = { ...doc.dns, enabled: false };
    });
    [a, b] = await Promise.all([startMeridian(config, env), startMeridian(config, env)]);
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a token revoked on node A fails on node B within 1 s; so does a disabled user', async () => {
    assert.equal(
      (await call(a, 'POST', '/v1/users', BOOT, { name: 'ops', password: PASSWORD, roles: ['operator'] }))
        .status,
      201,
    );
    const created = await call(a, 'POST', '/v1/tokens', BOOT, { user: 'ops', name: 'deploy' });
    assert.equal(created.status, 201);
    const secret = String(created.json.token);
    await waitFor(
      'the token on node B',
      async () => (await call(b, 'GET', '/v1/whoami', secret)).status === 200,
      { timeoutMs: 5000 },
    );

    const revokedAt = Date.now();
    assert.equal((await call(a, 'DELETE', `/v1/tokens/${String(created.json.id)}`, BOOT)).status, 204);
    await waitFor(
      'the revocation on node B',
      async () => (await call(b, 'GET', '/v1/regions', secret)).status === 401,
      { timeoutMs: 1000 },
    );
    assert.ok(Date.now() - revokedAt <= 1000, `took ${Date.now() - revokedAt} ms`);

    const second = String(
      (await call(a, 'POST', '/v1/tokens', BOOT, { user: 'ops', name: 'second' })).json.token,
    );
    await waitFor(
      'the second token on node B',
      async () => (await call(b, 'GET', '/v1/whoami', second)).status === 200,
      { timeoutMs: 5000 },
    );
    const disabledAt = Date.now();
    assert.equal((await call(a, 'PATCH', '/v1/users/ops', BOOT, { disabled: true })).status, 200);
    await waitFor(
      'the disabled user on node B',
      async () => (await call(b, 'GET', '/v1/regions', second)).status === 401,
      { timeoutMs: 1000 },
    );
    assert.ok(Date.now() - disabledAt <= 1000);
  });

  it('a reporter token reports health for its region and cannot create a region', async () => {
    const region = { id: 'eu-west', name: 'EU', lat: 53, lon: -6, ipv4: ['192.0.2.1'] };
    assert.equal((await call(a, 'POST', '/v1/regions', BOOT, region)).status, 201);
    assert.equal(
      (
        await call(a, 'POST', '/v1/users', BOOT, {
          name: 'proxy-eu',
          password: PASSWORD,
          roles: ['reporter'],
          regions: ['eu-west'],
        })
      ).status,
      201,
    );
    const reporter = String(
      (await call(a, 'POST', '/v1/tokens', BOOT, { user: 'proxy-eu', name: 'health' })).json.token,
    );
    const report = { reporterId: 'proxy-eu-1', healthyBackends: 2, totalBackends: 2 };
    await waitFor(
      'the region and reporter on node B',
      async () => (await call(b, 'POST', '/v1/regions/eu-west/health', reporter, report)).status === 200,
      { timeoutMs: 5000 },
    );
    const create = await call(b, 'POST', '/v1/regions', reporter, { ...region, id: 'us-east' });
    assert.equal(create.status, 403);
    assert.match(
      String((create.json.error as { message: string }).message),
      /needs the "write" permission, which role reporter/,
    );
    assert.equal(
      (await call(b, 'GET', '/v1/regions', reporter)).status,
      403,
      'a reporter reads nothing either',
    );
  });

  it('the Redis dump holds no token and no password in plain text', async () => {
    const secret = String(
      (await call(a, 'POST', '/v1/tokens', BOOT, { user: 'proxy-eu', name: 'dump-check' })).json.token,
    );
    // The server's own data folder (dir is a protected setting: it cannot be moved at run time).
    const client = new Redis(redis.url);
    try {
      const [, dataDir] = (await client.config('GET', 'dir')) as [string, string];
      // Uncompressed, so a plain-text value could not hide inside an LZF-compressed string.
      await client.config('SET', 'rdbcompression', 'no');
      assert.equal(await client.save(), 'OK');
      const dump = readFileSync(join(dataDir, 'dump.rdb'));
      assert.ok(dump.includes('proxy-eu'), 'the dump holds the users (the check reads the right file)');
      for (const plain of [secret, PASSWORD, BOOT]) {
        assert.equal(dump.includes(plain), false, `plain text in the dump: ${plain.slice(0, 6)}…`);
      }
    } finally {
      client.disconnect();
    }
  });
});
