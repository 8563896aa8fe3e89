// Both OpsRecordStore implementations against one contract, plus what is specific to each.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { MemoryOpsRecordStore, opsFilesFor } from '../../src/storage/memory/ops-record-store.js';
import { RedisOpsRecordStore } from '../../src/storage/redis/ops-record-store.js';
import { startRedis, type RedisHandle } from '../helpers/redis-server.js';
import { recordStoreContract } from './ops-records-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'meridian-ops-records-'));
let fileCounter = 0;
let redis: RedisHandle;
const clients: Redis[] = [];
let prefixCounter = 0;

before(async () => {
  redis = await startRedis();
});

after(async () => {
  for (const c of clients) c.disconnect();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function client(): Redis {
  const c = new Redis(redis.url, { maxRetriesPerRequest: 1, lazyConnect: false });
  clients.push(c);
  return c;
}

recordStoreContract('memory (persisted to a file)', async () => {
  const store = new MemoryOpsRecordStore({ file: join(dir, `contract-${fileCounter++}.ops.jsonl`) });
  await store.start();
  return store;
});

recordStoreContract('memory (no file)', async () => {
  const store = new MemoryOpsRecordStore();
  await store.start();
  return store;
});

recordStoreContract('redis', async () => {
  const store = new RedisOpsRecordStore({ client: client(), keyPrefix: `t${prefixCounter++}:` });
  await store.start();
  return store;
});

recordStoreContract('redis (small chunks: paging across XRANGE calls and scan limits)', async () => {
  const store = new RedisOpsRecordStore({
    client: client(),
    keyPrefix: `s${prefixCounter++}:`,
    chunk: 2,
    maxScan: 4,
  });
  await store.start();
  return store;
});

void describe('MemoryOpsRecordStore persistence', () => {
  void it('names its files next to the state file', () => {
    assert.deepEqual(opsFilesFor('/var/lib/meridian/state.json'), {
      records: '/var/lib/meridian/state.ops.jsonl',
      tasks: '/var/lib/meridian/state.tasks.json',
    });
  });

  void it('keeps records across a restart, compacts on cleanup, and skips a torn last line', async () => {
    const file = join(dir, 'persist.ops.jsonl');
    const a = new MemoryOpsRecordStore({ file });
    await a.start();
    const old = await a.append(
      'audit',
      { actor: 'u', action: 'region.create', target: 'region/a' },
      { time: Date.now() - 40 * 86_400_000 },
    );
    const young = await a.append('audit', {
      actor: 'u',
      action: 'region.update',
      target: 'region/a',
      before: { w: 1 },
      after: { w: 2 },
    });
    const al = await a.append('alert', {
      type: 'task_failed',
      level: 'warning',
      subject: 'task/x',
      message: 'boom',
      node: 'n1',
    });
    await a.close();

    const b = new MemoryOpsRecordStore({ file });
    await b.start();
    assert.deepEqual((await b.query('audit')).items, [young, old]);
    assert.deepEqual((await b.query('alert')).items, [al]);
    await b.cleanup({ maxAgeMs: 30 * 86_400_000, maxCount: 100 });
    await b.close();
    assert.equal(
      readFileSync(file, 'utf8').trim().split('\n').length,
      2,
      'the file was rewritten without the old record',
    );

    appendFileSync(file, '{"kind":"audit","id":"99999999999999-0","data":{"act');
    const c = new MemoryOpsRecordStore({ file });
    await c.start();
    assert.deepEqual((await c.query('audit')).items, [young]);
    const next = await c.append('audit', { actor: 'u', action: 'region.remove', target: 'region/a' });
    assert.ok(next !== undefined);
    await c.close();
  });

  void it('remembers idempotency keys across a restart and a compaction, forgets them with the record', async () => {
    const file = join(dir, 'idem.ops.jsonl');
    const entry = { actor: 'u', action: 'region.create', target: 'region/a' };
    const a = new MemoryOpsRecordStore({ file });
    await a.start();
    const old = await a.append('audit', entry, { idempotencyKey: 'old', time: Date.now() - 40 * 86_400_000 });
    const young = await a.append('audit', entry, { idempotencyKey: 'young' });
    assert.ok(old !== undefined && young !== undefined);
    await a.close();

    const b = new MemoryOpsRecordStore({ file });
    await b.start();
    assert.equal(await b.append('audit', entry, { idempotencyKey: 'young' }), undefined);
    await b.cleanup({ maxAgeMs: 30 * 86_400_000, maxCount: 100 });
    await b.close();

    const c = new MemoryOpsRecordStore({ file });
    await c.start();
    assert.equal(
      await c.append('audit', entry, { idempotencyKey: 'young' }),
      undefined,
      'kept by the rewrite',
    );
    assert.ok(
      (await c.append('audit', entry, { idempotencyKey: 'old' })) !== undefined,
      'dropped with its record',
    );
    assert.equal((await c.query('audit')).items.length, 2);
    await c.close();
  });
});

void describe('RedisOpsRecordStore', () => {
  void it('stores records in streams under the key prefix and fails clearly when Redis is gone', async () => {
    const c = client();
    const store = new RedisOpsRecordStore({ client: c, keyPrefix: 'keys:' });
    await store.append('audit', { actor: 'u', action: 'region.create', target: 'region/a' });
    await store.append('alert', { type: 'task_failed', level: 'warning', subject: 'task/x', message: 'm' });
    // The audit stream shares the state store's slot (audited writes XADD to it in their script).
    assert.equal(await c.type('keys:{meridian}:audit'), 'stream');
    assert.equal(await c.xlen('keys:{meridian}:audit'), 1);
    assert.equal(await c.type('keys:{ops}:alert'), 'stream');
    assert.equal(await c.xlen('keys:{ops}:alert'), 1);
    // Markers live in their stream's slot too.
    await store.append('audit', { actor: 'u', action: 'a.b', target: 't' }, { idempotencyKey: 'k1' });
    await store.append(
      'alert',
      { type: 'task_failed', level: 'info', subject: 's', message: 'm' },
      {
        dedupeKey: 'd1',
      },
    );
    assert.equal(await c.exists('keys:{meridian}:audit-mark:idem:k1'), 1);
    assert.equal(await c.exists('keys:{ops}:dedupe:d1'), 1);

    const dead = new Redis({
      port: 1,
      host: '127.0.0.1',
      maxRetriesPerRequest: 0,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    dead.on('error', () => undefined);
    const broken = new RedisOpsRecordStore({ client: dead });
    await assert.rejects(
      broken.append('audit', { actor: 'u', action: 'a.b', target: 't' }),
      (err: unknown) => {
        assert.equal((err as { code?: string }).code, 'E_UNAVAILABLE');
        return true;
      },
    );
    dead.disconnect();
  });
});
