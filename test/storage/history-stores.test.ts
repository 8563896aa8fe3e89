// Both HistoryStore backends against one contract (history-store-contract.ts), plus the memory
// store's file (kept across a restart, compacted by prune, torn last line skipped) and the Redis
// store's key expiry.
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { MemoryHistoryStore, historyFileFor } from '../../src/storage/memory/history-store.js';
import { RedisHistoryStore, historyKeys } from '../../src/storage/redis/history-store.js';
import { startRedis, type RedisHandle } from '../helpers/redis-server.js';
import { historyStoreContract } from './history-store-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'meridian-history-'));
let counter = 0;
let redis: RedisHandle;
const clients: Redis[] = [];

before(async () => {
  redis = await startRedis();
});

after(async () => {
  for (const c of clients) c.disconnect();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function client(): Redis {
  const c = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  clients.push(c);
  return c;
}

historyStoreContract('memory (persisted to a file)', {
  open: async () => {
    const s = new MemoryHistoryStore({ file: join(dir, `contract-${counter++}.history.jsonl`) });
    await s.start();
    return s;
  },
});

{
  // Each test gets a fresh prefix; the peer opens a second connection on the same prefix.
  let prefix = '';
  historyStoreContract('redis (two nodes on one Redis)', {
    open: async () => {
      prefix = `h${counter++}:`;
      const s = new RedisHistoryStore({ client: client(), keyPrefix: prefix, chunk: 2 });
      await s.start();
      return s;
    },
    openPeer: async () => {
      const s = new RedisHistoryStore({ client: client(), keyPrefix: prefix, chunk: 2 });
      await s.start();
      return s;
    },
  });
}

void describe('MemoryHistoryStore file', () => {
  void it('is named after the state file, kept across a restart, compacted by prune, mode 0600', async () => {
    assert.equal(historyFileFor('/var/lib/meridian/state.json'), '/var/lib/meridian/state.history.jsonl');
    const file = join(dir, 'persist.history.jsonl');
    const t = Date.UTC(2026, 0, 1);
    const a = new MemoryHistoryStore({ file });
    await a.start();
    await a.addTraffic([{ minute: t, region: 'eu-west', counters: { dns: 2 } }]);
    await a.addTraffic([{ minute: t, region: 'eu-west', counters: { dns: 3 } }]);
    await a.addTraffic([{ minute: t + 60_000, region: 'eu-west', counters: { dns: 1 } }]);
    await a.addHealthEvent({
      t,
      region: 'eu-west',
      backend: null,
      healthy: false,
      reason: 'x',
      source: 'verdict',
    });
    await a.close();
    assert.equal(statSync(file).mode & 0o777, 0o600);
    appendFileSync(file, '{"k":"t","m":');
    const b = new MemoryHistoryStore({ file });
    await b.start();
    assert.deepEqual(
      (await b.traffic({ from: t, to: t + 60_000 })).map((r) => r.counters['dns']),
      [5, 1],
    );
    assert.equal((await b.healthEvents({ from: t, to: t })).length, 1);
    await b.prune(t + 1);
    await b.close();
    // Compacted: the remaining minute and the (whole) hour, one line each.
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(lines.length, 2);
    const c = new MemoryHistoryStore({ file });
    await c.start();
    assert.deepEqual(
      (await c.traffic({ from: 0, to: t + 60_000 })).map((r) => r.minute),
      [t + 60_000],
    );
  });
});

void describe('RedisHistoryStore keys', () => {
  void it('expires a rollup key retentionMs after its minute', async () => {
    const c = client();
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    const s = new RedisHistoryStore({ client: c, keyPrefix: 'exp:', retentionMs: 3_600_000 });
    await s.start();
    await s.addTraffic([{ minute, region: 'eu-west', counters: { dns: 1 } }]);
    const expireAt = Number(await c.call('PEXPIRETIME', historyKeys('exp:').rollup(minute, 'eu-west')));
    assert.equal(expireAt, minute + 60_000 + 3_600_000);
  });
});
