import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChangeEvent } from '../../src/core/types.js';
import { Redis } from 'ioredis';
import { RedisOpsRecordStore } from '../../src/storage/redis/ops-record-store.js';
import { RedisStateStore } from '../../src/storage/redis/state-store.js';
import { startRedis, type RedisHandle } from '../helpers/redis-server.js';
import { region, rejectsWith, report, runStateStoreContract } from './state-store-contract.js';
import { waitFor } from '../helpers/wait.js';

let redis: RedisHandle;
let prefixes = 0;
const open: RedisStateStore[] = [];

before(async () => {
  redis = await startRedis();
});
after(async () => {
  await Promise.all(open.map((s) => s.close()));
  await redis.stop();
});

const config = (keyPrefix: string, resyncSeconds = 30) => ({
  url: redis.url,
  keyPrefix,
  sentinels: [],
  sentinelName: 'mymaster',
  cluster: [],
  resyncSeconds,
  commandTimeoutMs: 1000,
});

const nextPrefix = (): string => `t${++prefixes}:`;

async function makeStore(keyPrefix: string, resyncSeconds = 30): Promise<RedisStateStore> {
  const store = new RedisStateStore({ redis: config(keyPrefix, resyncSeconds), nodeId: `test-${keyPrefix}` });
  open.push(store);
  await store.start();
  return store;
}

runStateStoreContract('redis', async () => {
  const prefix = nextPrefix();
  const store = await makeStore(prefix);
  const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  const records = new RedisOpsRecordStore({ client, keyPrefix: prefix });
  return {
    store,
    auditTrail: async () => (await records.query('audit', { order: 'asc', limit: 1000 })).items,
    cleanup: async () => {
      await store.close();
      await client.quit();
    },
  };
});

void describe('RedisStateStore audit stream', () => {
  void it('appends audit entries to P{meridian}:audit, read by RedisOpsRecordStore with other audit records', async () => {
    const prefix = nextPrefix();
    const store = await makeStore(prefix);
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      const records = new RedisOpsRecordStore({ client, keyPrefix: prefix });
      await store.createRegion(region('eu'), { actor: 'token:1234abcd…', requestId: 'req-3' });
      await records.append('audit', { actor: 'u', action: 'policy.create', target: 'policy/p' });
      await records.append('alert', {
        type: 'task_failed',
        level: 'warning',
        subject: 'task/x',
        message: 'm',
      });
      assert.equal(await client.type(`${prefix}{meridian}:audit`), 'stream');
      assert.equal(await client.xlen(`${prefix}{meridian}:audit`), 2);
      assert.equal(await client.xlen(`${prefix}{ops}:alert`), 1, 'alerts stay where they were');
      assert.equal(await client.exists(`${prefix}{ops}:audit`), 0);
      const raw = (await client.xrange(`${prefix}{meridian}:audit`, '-', '+'))[0];
      assert.deepEqual(raw?.[1][0], 'd');
      const entry = JSON.parse(raw?.[1][1] ?? '{}') as Record<string, unknown>;
      assert.equal(entry.action, 'region.create');
      assert.equal(entry.requestId, 'req-3');
      const page = await records.query('audit', { order: 'asc' });
      assert.deepEqual(
        page.items.map((r) => r.action),
        ['region.create', 'policy.create'],
      );
      // Retention trims the shared stream.
      const removed = await records.cleanup({ maxAgeMs: 86_400_000, maxCount: 1 });
      assert.equal(removed.audit, 1);
      assert.equal(await client.xlen(`${prefix}{meridian}:audit`), 1);
    } finally {
      await client.quit();
    }
  });

  void it('a remove that raced with an update records the state it actually removed', async () => {
    const prefix = nextPrefix();
    const a = await makeStore(prefix);
    const b = await makeStore(prefix);
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      const records = new RedisOpsRecordStore({ client, keyPrefix: prefix });
      await a.createRegion(region('eu'));
      const ctx = { actor: 'token:1234abcd…' };
      // Concurrent writers: whatever the interleaving, the removal's `before` is the last update.
      const results = await Promise.allSettled([
        a.updateRegion('eu', { weight: 7 }, ctx),
        b.removeRegion('eu', ctx),
      ]);
      const trail = (await records.query('audit', { order: 'asc' })).items;
      const removal = trail.find((r) => r.action === 'region.remove');
      assert.ok(removal !== undefined, JSON.stringify(trail));
      const update = trail.find((r) => r.action === 'region.update');
      if (update !== undefined) {
        assert.equal(results[0]?.status, 'fulfilled');
        assert.ok(trail.indexOf(update) < trail.indexOf(removal), 'the update committed first');
        assert.deepEqual(removal.before, update.after);
      } else {
        assert.equal(results[0]?.status, 'rejected', 'the update lost to the removal');
        assert.equal((removal.before as { weight: number }).weight, 100);
      }
    } finally {
      await client.quit();
    }
  });
});

void describe('RedisStateStore across nodes', () => {
  void it('a write on A appears in B within 1 s, with the right change event', async () => {
    const prefix = nextPrefix();
    const a = await makeStore(prefix);
    const b = await makeStore(prefix);
    const events: ChangeEvent[] = [];
    b.onChange((_s, c) => events.push(c));

    await a.createRegion(region('eu', { weight: 3 }));
    await waitFor('create reached B', () => b.current().regions.get('eu')?.weight === 3, { timeoutMs: 1000 });
    assert.deepEqual(events.at(-1), { kind: 'region', regionId: 'eu', id: 'eu', op: 'upsert' });

    await a.createBackend('eu', { id: 'web-1', url: 'http://127.0.0.1:8080' });
    await a.reportHealth(report('eu', 'proxy-a'));
    await waitFor(
      'backend and health reached B',
      () => b.current().backends.get('eu')?.has('web-1') === true && b.current().health.get('eu')?.size === 1,
      { timeoutMs: 1000 },
    );

    await b.updateRegion('eu', { state: 'draining' });
    await waitFor('B → A', () => a.current().regions.get('eu')?.state === 'draining', { timeoutMs: 1000 });

    await a.removeRegion('eu');
    await waitFor('remove reached B', () => !b.current().regions.has('eu'), { timeoutMs: 1000 });
    assert.equal(b.current().backends.has('eu'), false);
    assert.equal(b.current().health.has('eu'), false);
    assert.deepEqual(events.at(-1), { kind: 'region', regionId: 'eu', id: 'eu', op: 'delete' });
    assert.ok(b.status().changeFeedLagMs >= 0);
  });

  void it('concurrent creates of one id on two nodes: exactly one wins', async () => {
    const prefix = nextPrefix();
    const a = await makeStore(prefix);
    const b = await makeStore(prefix);
    const results = await Promise.allSettled([
      a.createRegion(region('race', { weight: 1 })),
      b.createRegion(region('race', { weight: 2 })),
      a.createRegion(region('race', { weight: 3 })),
      b.createRegion(region('race', { weight: 4 })),
    ]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results)
      if (r.status === 'rejected') assert.equal((r.reason as { code: string }).code, 'E_CONFLICT');
    const winner = results.find((r) => r.status === 'fulfilled')?.value;
    await waitFor(
      'A to see the winning write',
      () => a.current().regions.get('race')?.weight === winner?.weight,
      { timeoutMs: 1000 },
    );
    await waitFor(
      'B to see the winning write',
      () => b.current().regions.get('race')?.weight === winner?.weight,
      { timeoutMs: 1000 },
    );
  });

  void it('createBackend on a region another node just removed fails with 404', async () => {
    const prefix = nextPrefix();
    const a = await makeStore(prefix);
    const b = await makeStore(prefix);
    await a.createRegion(region('eu'));
    await waitFor('B to see region eu', () => b.current().regions.has('eu'), { timeoutMs: 1000 });
    await a.removeRegion('eu');
    // B may still see the region in its snapshot; Redis decides atomically.
    await rejectsWith(b.createBackend('eu', { url: 'http://127.0.0.1:8080' }), 'E_NOT_FOUND');
  });

  void it('B converges after its pub/sub connection is killed and a change is made meanwhile', async () => {
    const prefix = nextPrefix();
    const a = await makeStore(prefix, 3600); // no periodic resync during the test
    const b = await makeStore(prefix, 3600);
    await a.createRegion(region('eu'));
    await waitFor('B to see region eu', () => b.current().regions.has('eu'), { timeoutMs: 1000 });
    const resyncsBefore = b.status().resyncs;

    const killed = await redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    assert.match(killed, /^:[1-9]/, `killed the subscribers: ${killed}`);
    // Published while B's subscriber is reconnecting: B cannot receive this message.
    await a.updateRegion('eu', { weight: 42 });
    await a.createRegion(region('us'));

    await waitFor(
      'B converged',
      () => b.current().regions.get('eu')?.weight === 42 && b.current().regions.has('us'),
      { timeoutMs: 5000 },
    );
    assert.ok(b.status().resyncs > resyncsBefore, 'B resynced');
    // And B's subscription works again.
    await a.updateRegion('eu', { weight: 43 });
    await waitFor('B to see weight 43', () => b.current().regions.get('eu')?.weight === 43, {
      timeoutMs: 1000,
    });
  });

  void it('keys are isolated by keyPrefix', async () => {
    const one = await makeStore(nextPrefix());
    const p2 = nextPrefix();
    const two = await makeStore(p2);
    await one.createRegion(region('eu'));
    await two.resync();
    assert.equal(two.current().regions.size, 0);
    await two.createRegion(region('eu', { weight: 9 }));
    assert.equal(one.current().regions.get('eu')?.weight, 100);
    const keys = await redis.command('KEYS', `${p2}*`);
    assert.match(keys, /\{meridian\}:regions/);
  });
});

// These restart Redis, so they run last and on their own stores.
void describe('RedisStateStore when Redis goes away', () => {
  void it('writes fail fast with E_UNAVAILABLE, current() keeps the last snapshot, and writes work again later', async () => {
    const prefix = nextPrefix();
    const a = await makeStore(prefix);
    await a.createRegion(region('eu'));
    await a.reportHealth(report('eu', 'proxy-a'));
    const last = a.current();

    await redis.kill();
    const started = Date.now();
    await rejectsWith(a.createRegion(region('us')), 'E_UNAVAILABLE');
    await rejectsWith(a.updateRegion('eu', { weight: 1 }), 'E_UNAVAILABLE');
    await rejectsWith(a.reportHealth(report('eu', 'proxy-a')), 'E_UNAVAILABLE');
    assert.ok(Date.now() - started < 3000, `failed in ${Date.now() - started} ms`);
    await waitFor('status shows disconnected', () => !a.status().connected, { timeoutMs: 3000 });
    // The same regions; health reports frozen (still valid) rather than expiring with the clock.
    assert.deepEqual(a.current().regions, last.regions);
    assert.equal(a.current().regions.get('eu')?.weight, 100);
    assert.ok(a.status().healthFrozenSince !== undefined, 'health frozen');
    const frozen = a.current().health.get('eu')?.get('proxy-a');
    assert.ok(frozen !== undefined && frozen.expiresAt > Date.now() + 3_600_000, 'report kept valid');
    await rejectsWith(a.resync(), 'E_UNAVAILABLE');
    assert.deepEqual(a.current().regions, last.regions);

    await redis.start(); // a fresh, empty Redis: it lost the fleet's data (issue #12)
    await waitFor('data loss noticed', () => a.status().dataLost !== undefined, { timeoutMs: 10_000 });
    assert.equal(a.current().regions.get('eu')?.weight, 100, 'the last snapshot is kept');
    await rejectsWith(a.createRegion(region('us')), 'E_UNAVAILABLE');
    await a.reseed();
    const us = await a.createRegion(region('us'));
    assert.equal(us.id, 'us');
    assert.deepEqual([...a.current().regions.keys()].sort(), ['eu', 'us']);
    await waitFor(
      'A reconnected with no data loss flagged',
      () => a.status().connected && a.status().dataLost === undefined,
      { timeoutMs: 3000 },
    );
  });

  void it("B keeps its state when Redis restarts empty, and takes A's reseed", async () => {
    const prefix = nextPrefix();
    const a = await makeStore(prefix, 3600);
    const b = await makeStore(prefix, 3600);
    await a.createRegion(region('old'));
    await waitFor('B to see region old', () => b.current().regions.has('old'), { timeoutMs: 1000 });

    await redis.restart();
    await waitFor('B noticed the loss', () => b.status().dataLost !== undefined, { timeoutMs: 10_000 });
    assert.ok(b.current().regions.has('old'), 'B kept its snapshot');
    await waitFor('A noticed the loss', () => a.status().dataLost !== undefined, { timeoutMs: 10_000 });
    await a.reseed();
    // B's writes fail until it has reconnected to the reseeded Redis.
    await waitFor('B to accept a write', () => b.createRegion(region('new')).catch(() => undefined), {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    await waitFor(
      `A converged: ${[...a.current().regions.keys()].join(',')}`,
      () => a.current().regions.has('new') && a.current().regions.has('old'),
      { timeoutMs: 8000 },
    );
    await waitFor('B reconnected', () => b.status().connected, { timeoutMs: 3000 });
  });

  void it('start() fails clearly when Redis cannot be reached', async () => {
    const store = new RedisStateStore({
      redis: { ...config(nextPrefix()), url: 'redis://127.0.0.1:1' },
      startTimeoutMs: 500,
    });
    const err = await rejectsWith(store.start(), 'E_UNAVAILABLE');
    assert.match(err.message, /127\.0\.0\.1:1/);
    await rejectsWith(store.createRegion(region('eu')), 'E_UNAVAILABLE');
    await store.close();
  });
});
