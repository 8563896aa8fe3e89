// Runs the ZoneStore contract against the memory store (with its JSON file) and the Redis store (on
// a real redis-server), plus what is specific to each: the memory file's mode and its corruption,
// and a change made behind the Redis store's back reaching it through the version poll.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { MemoryZoneStore } from '../../src/storage/memory/zone-store.js';
import { RedisZoneStore, zoneKeys } from '../../src/storage/redis/zone-store.js';
import type { ZoneStore } from '../../src/storage/zone-store.js';
import { startRedis, type RedisHandle } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';
import { FIXED_NOW, runZoneStoreContract, zoneInput } from './zone-store-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'meridian-zones-'));
let fileCounter = 0;
after(() => rmSync(dir, { recursive: true, force: true }));
const now = (): number => FIXED_NOW;

runZoneStoreContract(
  'memory',
  async () => {
    const file = join(dir, `zones-${++fileCounter}.json`);
    const store = new MemoryZoneStore({ file, now });
    await store.start();
    const peers: ZoneStore[] = [];
    return {
      store,
      async peer() {
        const p = new MemoryZoneStore({ file, now });
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
  const c = new Redis(redis.url, { enableOfflineQueue: true, maxRetriesPerRequest: 1 });
  clients.push(c);
  return c;
}

describe('redis zone store', () => {
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await redis?.stop();
  });

  runZoneStoreContract(
    'redis',
    async () => {
      const keyPrefix = `t${++prefixCounter}:`;
      const store = new RedisZoneStore({ redis: client(), keyPrefix, now });
      await store.start();
      const peers: ZoneStore[] = [];
      return {
        store,
        async peer() {
          const p = new RedisZoneStore({ redis: client(), keyPrefix, now });
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
    const store = new RedisZoneStore({ redis: client(), keyPrefix, now });
    await store.start();
    try {
      const keys = zoneKeys(keyPrefix);
      const raw = client();
      const zone = { ...zoneInput('sneaky.test'), soa: { mname: 'ns1', rname: 'h' } };
      await raw.hset(keys.hash, 'sneaky.test', JSON.stringify(zone));
      await raw.incr(keys.version);
      const started = Date.now();
      await waitFor('poll picked it up', () => store.current().some((z) => z.name === 'sneaky.test'), {
        timeoutMs: 1000,
      });
      assert.ok(Date.now() - started <= 1000);
    } finally {
      await store.close();
    }
  });
});

describe('memory zone store file', () => {
  it('is written mode 0600 and a corrupt file stops start-up', async () => {
    const file = join(dir, 'persist.json');
    const a = new MemoryZoneStore({ file, now });
    await a.start();
    await a.create(zoneInput());
    await a.close();
    assert.equal(statSync(file).mode & 0o777, 0o600);
    writeFileSync(file, '{"version":1,"zones":[{"name":"x.test"}]}');
    await assert.rejects(new MemoryZoneStore({ file }).start(), { code: 'E_CONFIG' });
  });
});
