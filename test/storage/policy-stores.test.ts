// Runs the PolicyStore contract against the memory store (with its JSON file) and the Redis store
// (on a real redis-server), plus what is specific to each.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { MemoryPolicyStore } from '../../src/storage/memory/policy-store.js';
import { RedisPolicyStore, policyKeys } from '../../src/storage/redis/policy-store.js';
import type { PolicyStore } from '../../src/storage/policy-store.js';
import { startRedis, type RedisHandle } from '../helpers/redis-server.js';
import { runPolicyStoreContract } from './policy-store-contract.js';
import { rateLimit, asRateLimit } from '../proxy/policy/fixtures.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'meridian-policy-'));
let fileCounter = 0;
after(() => rmSync(dir, { recursive: true, force: true }));

runPolicyStoreContract(
  'memory',
  async () => {
    const file = join(dir, `policies-${++fileCounter}.json`);
    const store = new MemoryPolicyStore({ file });
    await store.start();
    const peers: PolicyStore[] = [];
    return {
      store,
      async peer() {
        const p = new MemoryPolicyStore({ file });
        await p.start();
        peers.push(p);
        return p;
      },
      async cleanup() {
        for (const p of peers) await p.close();
        await store.close();
      },
    };
  },
  { live: false },
);

let redis: RedisHandle | undefined;
let prefixCounter = 0;
const clients: Redis[] = [];
function client(): Redis {
  if (redis === undefined) throw new Error('redis not started');
  const c = new Redis(redis.url, { enableOfflineQueue: true, maxRetriesPerRequest: 1, lazyConnect: false });
  clients.push(c);
  return c;
}

describe('redis policy store', () => {
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await redis?.stop();
  });

  runPolicyStoreContract(
    'redis',
    async () => {
      const keyPrefix = `t${++prefixCounter}:`;
      const store = new RedisPolicyStore({ redis: client(), keyPrefix });
      await store.start();
      const peers: PolicyStore[] = [];
      return {
        store,
        async peer() {
          const p = new RedisPolicyStore({ redis: client(), keyPrefix });
          await p.start();
          peers.push(p);
          return p;
        },
        async cleanup() {
          for (const p of peers) await p.close();
          await store.close();
        },
      };
    },
    { live: true },
  );

  it('catches a change whose message was lost (version poll) within 1 s', async () => {
    const keyPrefix = `lost${++prefixCounter}:`;
    const store = new RedisPolicyStore({ redis: client(), keyPrefix });
    await store.start();
    try {
      const keys = policyKeys(keyPrefix);
      const raw = client();
      // Written behind the store's back: no PUBLISH.
      await raw.hset(
        keys.hash,
        'sneaky',
        JSON.stringify({
          ...rateLimit('sneaky'),
          mode: 'local',
          enabled: true,
          description: '',
          scope: 'global',
        }),
      );
      await raw.incr(keys.version);
      const started = Date.now();
      await waitFor('poll picked it up', () => store.current().some((p) => p.id === 'sneaky'), {
        timeoutMs: 1000,
      });
      assert.ok(Date.now() - started <= 1000);
    } finally {
      await store.close();
    }
  });
});

describe('memory policy store file', () => {
  it('persists atomically as JSON and reloads on start; a corrupt file stops start-up', async () => {
    const file = join(dir, 'persist.json');
    const a = new MemoryPolicyStore({ file });
    await a.start();
    await a.put(rateLimit('persisted'));
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { version: number; policies: { id: string }[] };
    assert.equal(doc.version, 1);
    assert.deepEqual(
      doc.policies.map((p) => p.id),
      ['persisted'],
    );
    await a.close();
    const b = new MemoryPolicyStore({ file });
    await b.start();
    assert.equal(asRateLimit(b.get('persisted')).rate, 10);
    await b.close();
    writeFileSync(file, '{"version":1,"policies":[{"id":"x","type":"rate_limit"}]}');
    await assert.rejects(new MemoryPolicyStore({ file }).start(), { code: 'E_CONFIG' });
  });
});
