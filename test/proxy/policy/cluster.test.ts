// Cluster-wide rate limits and quotas: two engines (two "proxies") on one real Redis.
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { MemoryPolicyStore } from '../../../src/storage/memory/policy-store.js';
import { PolicyEngine, type PolicyRequest, type PolicyVerdict } from '../../../src/proxy/policy/engine.js';
import { QuotaCounter } from '../../../src/proxy/policy/quota.js';
import { startRedis, type RedisHandle } from '../../helpers/redis-server.js';
import { quota, rateLimit } from './fixtures.js';

let redis: RedisHandle | undefined;
const clients: Redis[] = [];
let prefixCounter = 0;

function client(): Redis {
  if (redis === undefined) throw new Error('redis not started');
  const c = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  clients.push(c);
  return c;
}

const req = (clientIp = '198.51.100.7'): PolicyRequest => ({
  method: 'GET',
  path: '/',
  query: '',
  headers: {},
  clientIp,
});

async function twoEngines(policies: Record<string, unknown>[]) {
  const store = new MemoryPolicyStore();
  await store.start();
  await store.importBatch(policies);
  const keyPrefix = `c${++prefixCounter}:`;
  const a = new PolicyEngine({ store, regionId: 'eu-west', redis: client(), keyPrefix });
  const b = new PolicyEngine({ store, regionId: 'eu-west', redis: client(), keyPrefix });
  return { a, b, keyPrefix };
}

describe('cluster-wide policies on one Redis', () => {
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await redis?.stop();
  });

  it('shares one token bucket between proxies (cluster rate limit)', async () => {
    const { a, b } = await twoEngines([rateLimit('crl', { rate: 2, burst: 10, mode: 'cluster' })]);
    const started = Date.now();
    let passed = 0;
    let rejected: PolicyVerdict | undefined;
    for (let i = 0; i < 40; i++) {
      const v = await (i % 2 === 0 ? a : b).check(req());
      if (v.action === 'pass') passed++;
      else rejected ??= v;
    }
    const elapsedS = (Date.now() - started) / 1000;
    // Each proxy alone would pass 10; together they share 10 plus what refilled meanwhile (2/s).
    assert.ok(passed >= 10 && passed <= 10 + Math.ceil(2 * elapsedS) + 1, `passed ${passed} in ${elapsedS}s`);
    assert.ok(rejected !== undefined && rejected.action === 'reject');
    if (rejected.action === 'reject') {
      assert.equal(rejected.status, 429);
      assert.equal(rejected.headers['RateLimit-Limit'], '10');
      assert.equal(rejected.headers['RateLimit-Remaining'], '0');
      assert.ok(Number(rejected.headers['Retry-After']) >= 1);
    }
    // Another client is not affected.
    assert.equal((await a.check(req('203.0.113.1'))).action, 'pass');
  });

  it('takes tokens in batches, so most checks are answered without waiting on Redis', async () => {
    const { a } = await twoEngines([rateLimit('fast', { rate: 1000, burst: 1000, mode: 'cluster' })]);
    let syncCount = 0;
    for (let i = 0; i < 400; i++) {
      const v = a.check(req());
      if (!(v instanceof Promise)) syncCount++;
      assert.equal((await v).action, 'pass');
    }
    // Batches of 16 with background refill: at most a handful of the 400 had to wait.
    assert.ok(syncCount >= 360, `only ${syncCount} of 400 were synchronous`);
  });

  it('counts a quota across proxies (INCR with expiry at the period end) and reports usage', async () => {
    const { a, b, keyPrefix } = await twoEngines([
      quota('cq', { limit: 5, period: 'hour', key: 'client_ip' }),
    ]);
    const verdicts: PolicyVerdict[] = [];
    for (let i = 0; i < 8; i++) verdicts.push(await (i % 2 === 0 ? a : b).check(req()));
    assert.deepEqual(
      verdicts.map((v) => v.action),
      ['pass', 'pass', 'pass', 'pass', 'pass', 'reject', 'reject', 'reject'],
    );
    const reject = verdicts[5];
    assert.ok(reject?.action === 'reject' && reject.body.error.code === 'E_QUOTA_EXCEEDED');
    // Any node (here: a bare counter, as the admin API uses) reads the cluster-wide usage.
    const counter = new QuotaCounter({ redis: client(), keyPrefix });
    const policy = {
      ...quota('cq', { limit: 5, period: 'hour', key: 'client_ip' }),
      enabled: true,
      description: '',
      scope: 'global',
    };
    const usage = await counter.usage(policy as Parameters<QuotaCounter['usage']>[0], '198.51.100.7');
    assert.equal(usage.used, 5);
    assert.equal(usage.remaining, 0);
    assert.equal(usage.counting, 'cluster');
    const ttl = Number(
      await client().pttl(`${keyPrefix}quota:cq:${new Date(usage.periodStart).getTime()}:198.51.100.7`),
    );
    const untilReset = new Date(usage.resetAt).getTime() - Date.now();
    assert.ok(
      ttl > untilReset && ttl <= untilReset + 61_000,
      `key expires with the period (ttl ${ttl}, reset in ${untilReset})`,
    );
  });

  it('resets a cluster quota at the period boundary', async () => {
    const store = new MemoryPolicyStore();
    await store.start();
    await store.put(quota('short', { limit: 2, period: 'minute', key: 'client_ip' }));
    // The engine's injected clock, just after a period boundary (and near real time, for the key's expiry).
    const clock = { t: Math.ceil(Date.now() / 1000) * 1000 + 20 };
    const engine = new PolicyEngine({
      store,
      regionId: 'x',
      redis: client(),
      keyPrefix: `c${++prefixCounter}:`,
      quotaPeriodMs: { minute: 1000 },
      now: () => clock.t,
    });
    assert.equal((await engine.check(req())).action, 'pass');
    assert.equal((await engine.check(req())).action, 'pass');
    assert.equal((await engine.check(req())).action, 'reject');
    clock.t += 1000;
    assert.equal((await engine.check(req())).action, 'pass');
  });

  it('falls back to local counting when Redis is unreachable', async () => {
    const store = new MemoryPolicyStore();
    await store.start();
    await store.put(rateLimit('down', { rate: 0.01, burst: 2, mode: 'cluster' }));
    const dead = new Redis({
      port: 1,
      host: '127.0.0.1',
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    clients.push(dead);
    const engine = new PolicyEngine({ store, regionId: 'x', redis: dead });
    const actions = [];
    for (let i = 0; i < 4; i++) actions.push((await engine.check(req())).action);
    assert.deepEqual(actions, ['pass', 'pass', 'reject', 'reject']);
  });
});
