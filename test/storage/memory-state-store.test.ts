import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditSink } from '../../src/ops/audit.js';
import { MemoryOpsRecordStore } from '../../src/storage/memory/ops-record-store.js';
import type { AuditRecord } from '../../src/storage/ops-record-store.js';
import { MemoryStateStore } from '../../src/storage/memory/state-store.js';
import type { StateFileJson } from '../../src/storage/memory/state-file.js';
import { ReplicaStateStore, decodeSnapshot, encodeSnapshot } from '../../src/storage/snapshot-codec.js';
import type { AuditOutboxEntry, AuditSink } from '../../src/storage/state-store.js';
import { region, rejectsWith, report, runStateStoreContract } from './state-store-contract.js';
import { waitFor } from '../helpers/wait.js';

const dirs: string[] = [];
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-state-'));
  dirs.push(dir);
  return dir;
};
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const trailOf = (records: MemoryOpsRecordStore) => async (): Promise<AuditRecord[]> =>
  (await records.query('audit', { order: 'asc', limit: 1000 })).items;

runStateStoreContract('memory (with a file)', async () => {
  const dir = tempDir();
  const store = new MemoryStateStore({ file: join(dir, 'state.json') });
  const records = new MemoryOpsRecordStore({ file: join(dir, 'state.ops.jsonl') });
  await records.start();
  await store.start();
  store.attachAuditSink(auditSink(records));
  return {
    store,
    auditTrail: trailOf(records),
    cleanup: async () => {
      await store.close();
      await records.close();
    },
  };
});

runStateStoreContract('memory (no file)', async () => {
  const store = new MemoryStateStore({});
  const records = new MemoryOpsRecordStore();
  store.attachAuditSink(auditSink(records));
  await store.start();
  return { store, auditTrail: trailOf(records), cleanup: () => store.close() };
});

const readState = (file: string): StateFileJson => JSON.parse(readFileSync(file, 'utf8')) as StateFileJson;

void describe('MemoryStateStore audit outbox', () => {
  const ctx = { actor: 'token:feedbeef…', requestId: 'req-1' };

  /** A state file holding region eu and, in its outbox, the audit entry of eu's creation. */
  function crashedStateFile(file: string): AuditOutboxEntry {
    const at = '2025-06-01T12:00:00.000Z';
    const eu = {
      id: 'eu',
      name: 'eu',
      lat: 50.1,
      lon: 8.7,
      ipv4: ['192.0.2.10'],
      ipv6: [],
      weight: 100,
      state: 'active',
      labels: {},
      requireHealth: false,
      createdAt: at,
      updatedAt: at,
    };
    const item: AuditOutboxEntry = {
      id: 'c0ffee00-0000-4000-8000-000000000001',
      time: Date.parse(at),
      entry: {
        actor: 'token:feedbeef…',
        action: 'region.create',
        target: 'region/eu',
        before: null,
        after: eu,
      },
    };
    const json = {
      format: 1,
      version: 4,
      syncedAt: Date.parse(at),
      regions: [eu],
      backends: [],
      health: [],
      auditOutbox: [item],
    };
    writeFileSync(file, JSON.stringify(json));
    return item;
  }

  /** A sink counting its calls, delivering to `records`. */
  function countingSink(records: MemoryOpsRecordStore): { sink: AuditSink; calls: string[] } {
    const calls: string[] = [];
    const inner = auditSink(records);
    return {
      calls,
      sink: (item) => {
        calls.push(item.id);
        return inner(item);
      },
    };
  }

  void it('commits the entry in the same atomic file write as the change', async () => {
    const file = join(tempDir(), 'state.json');
    const store = new MemoryStateStore({ file });
    await store.start();
    await store.createRegion(region('eu'), ctx);
    const json = readState(file);
    assert.deepEqual(
      json.regions.map((r) => r.id),
      ['eu'],
    );
    assert.equal(json.auditOutbox?.length, 1);
    const [item] = json.auditOutbox ?? [];
    assert.equal(item?.entry.action, 'region.create');
    assert.equal(item?.entry.target, 'region/eu');
    assert.equal(item?.entry.actor, ctx.actor);
    assert.equal(item?.entry.requestId, 'req-1');
    assert.equal(typeof item?.id, 'string');
    assert.deepEqual(store.pendingAudit(), json.auditOutbox);
    // A write without a context adds nothing; a failed write adds nothing.
    await store.updateRegion('eu', { weight: 2 });
    await rejectsWith(store.createRegion(region('eu'), ctx), 'E_CONFLICT');
    assert.equal(readState(file).auditOutbox?.length, 1);
    await store.close();
    assert.equal(readState(file).auditOutbox?.length, 1, 'undelivered entries survive a restart');
  });

  void it('after a crash between the rename and the delivery, delivers the leftover entry once', async () => {
    const dir = tempDir();
    const file = join(dir, 'state.json');
    const item = crashedStateFile(file);
    const records = new MemoryOpsRecordStore({ file: join(dir, 'state.ops.jsonl') });
    await records.start();
    const store = new MemoryStateStore({ file });
    await store.start();
    assert.equal(store.current().regions.has('eu'), true);
    assert.deepEqual(
      store.pendingAudit().map((e) => e.id),
      [item.id],
    );
    const { sink, calls } = countingSink(records);
    store.attachAuditSink(sink);
    await waitFor('the outbox to be persisted empty', () => readState(file).auditOutbox?.length === 0, {
      timeoutMs: 5000,
    });
    assert.deepEqual(calls, [item.id]);
    const trail = await trailOf(records)();
    assert.equal(trail.length, 1);
    assert.equal(trail[0]?.action, 'region.create');
    assert.equal(trail[0]?.time, '2025-06-01T12:00:00.000Z', 'recorded with the write time');
    assert.deepEqual(trail[0]?.after, item.entry.after);
    await store.close();

    // A restart delivers nothing again.
    const again = new MemoryStateStore({ file });
    await again.start();
    const second = countingSink(records);
    again.attachAuditSink(second.sink);
    assert.deepEqual(again.pendingAudit(), []);
    await again.close();
    assert.deepEqual(second.calls, []);
    assert.equal((await trailOf(records)()).length, 1);
    await records.close();
  });

  void it('a redelivery (crash after the delivery, before the outbox write) is recorded once', async () => {
    const dir = tempDir();
    const file = join(dir, 'state.json');
    const opsFile = join(dir, 'state.ops.jsonl');
    const item = crashedStateFile(file);
    // The entry reached the records before the crash; the state file still lists it.
    const before = new MemoryOpsRecordStore({ file: opsFile });
    await before.start();
    await auditSink(before)(item);
    await before.close();

    const records = new MemoryOpsRecordStore({ file: opsFile });
    await records.start();
    const store = new MemoryStateStore({ file });
    await store.start();
    const { sink, calls } = countingSink(records);
    store.attachAuditSink(sink);
    await waitFor('the outbox to be persisted empty', () => readState(file).auditOutbox?.length === 0, {
      timeoutMs: 5000,
    });
    assert.deepEqual(calls, [item.id], 'delivered again (at least once)');
    assert.equal((await trailOf(records)()).length, 1, 'but recorded once (idempotent on the entry id)');
    await store.close();
    await records.close();
  });

  void it('without a sink entries wait in the outbox, bounded: the oldest are dropped', async () => {
    const store = new MemoryStateStore({ auditOutboxLimit: 3 });
    await store.start();
    for (let i = 0; i < 5; i++) await store.createRegion(region(`r-${i}`), ctx);
    assert.deepEqual(
      store.pendingAudit().map((e) => e.entry.target),
      ['region/r-2', 'region/r-3', 'region/r-4'],
    );
    const records = new MemoryOpsRecordStore();
    store.attachAuditSink(auditSink(records));
    await waitFor('the outbox to drain', () => store.pendingAudit().length === 0, { timeoutMs: 5000 });
    assert.deepEqual(
      (await trailOf(records)()).map((r) => r.target),
      ['region/r-2', 'region/r-3', 'region/r-4'],
    );
    await store.close();
  });

  void it('a failing sink never fails the write; the entry stays and is retried', async () => {
    const file = join(tempDir(), 'state.json');
    const store = new MemoryStateStore({ file, auditRetryMs: 10 });
    await store.start();
    const records = new MemoryOpsRecordStore();
    const inner = auditSink(records);
    let failures = 2;
    store.attachAuditSink((item) => {
      if (failures > 0) {
        failures--;
        return Promise.reject(new Error('records unavailable'));
      }
      return inner(item);
    });
    const created = await store.createRegion(region('eu'), ctx);
    assert.equal(store.current().regions.get('eu'), created);
    await waitFor('the retried delivery', async () => (await trailOf(records)()).length === 1, {
      timeoutMs: 5000,
    });
    assert.equal(failures, 0);
    await waitFor('the outbox to be persisted empty', () => readState(file).auditOutbox?.length === 0, {
      timeoutMs: 5000,
    });
    assert.deepEqual(store.pendingAudit(), []);
    await store.close();
  });
});

void describe('MemoryStateStore persistence', () => {
  void it('a new store on the same file sees everything, including the last known health', async () => {
    const file = join(tempDir(), 'nested', 'state.json');
    const a = new MemoryStateStore({ file, healthFlushMs: 20 });
    await a.start();
    await a.createRegion(region('eu', { country: 'DE', labels: { tier: 'gold' } }));
    await a.createRegion(region('us', { ipv4: [], ipv6: ['2001:db8::5'] }));
    await a.updateRegion('us', { state: 'draining' });
    await a.createBackend('eu', { id: 'web-1', url: 'http://127.0.0.1:8080', weight: 3 });
    await a.removeRegion('us');
    await a.reportHealth(report('eu', 'proxy-a:1'));
    const before = encodeSnapshot(a.current());
    await a.close();

    const b = new MemoryStateStore({ file });
    await b.start();
    const after = encodeSnapshot(b.current());
    assert.deepEqual(after.regions, before.regions);
    assert.deepEqual(after.backends, before.backends);
    assert.deepEqual(after.health, before.health);
    assert.ok(b.current().version > 0);
    await b.close();
  });

  void it('persists health reports without a close (debounced)', async () => {
    const file = join(tempDir(), 'state.json');
    const a = new MemoryStateStore({ file, healthFlushMs: 20 });
    await a.start();
    await a.createRegion(region('eu'));
    await a.reportHealth(report('eu', 'proxy-a'));
    await waitFor(
      'the health report to be persisted',
      () => (JSON.parse(readFileSync(file, 'utf8')) as { health: unknown[] }).health.length === 1,
      { timeoutMs: 5000 },
    );
    await a.close();
  });

  void it('writes atomically: no temp files are left behind, the file is always complete JSON', async () => {
    const dir = tempDir();
    const file = join(dir, 'state.json');
    const store = new MemoryStateStore({ file });
    await store.start();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.createRegion(region(`r-${i}`, { weight: i }))),
    );
    assert.deepEqual(readdirSync(dir), ['state.json']);
    const snapshot = decodeSnapshot(JSON.parse(readFileSync(file, 'utf8')));
    assert.equal(snapshot.regions.size, 20);
    await store.close();
    assert.deepEqual(readdirSync(dir), ['state.json']);
  });

  void it('a missing file means an empty state', async () => {
    const store = new MemoryStateStore({ file: join(tempDir(), 'none.json') });
    await store.start();
    assert.equal(store.current().regions.size, 0);
    await store.close();
  });

  void it('a corrupt file stops start() with E_CONFIG naming the file, and is left untouched', async () => {
    const file = join(tempDir(), 'state.json');
    const text = '{"format":1,"version":3,"regions":[{"id":"eu"'; // truncated
    writeFileSync(file, text);
    const store = new MemoryStateStore({ file });
    const err = await rejectsWith(store.start(), 'E_CONFIG');
    assert.ok(err.message.includes(file), err.message);
    assert.match(err.message, /corrupt/);
    assert.equal(readFileSync(file, 'utf8'), text);
    // A store that did not start refuses writes instead of overwriting the file.
    await rejectsWith(store.createRegion(region('eu')), 'E_UNAVAILABLE');
    assert.equal(readFileSync(file, 'utf8'), text);
  });

  void it('a file with an invalid record names the record and field', async () => {
    const file = join(tempDir(), 'state.json');
    const good = new MemoryStateStore({ file });
    await good.start();
    await good.createRegion(region('eu'));
    await good.close();
    const json = JSON.parse(readFileSync(file, 'utf8')) as { regions: { lat: number }[] };
    (json.regions[0] as { lat: number }).lat = 123;
    const text = JSON.stringify(json);
    writeFileSync(file, text);
    const err = await rejectsWith(new MemoryStateStore({ file }).start(), 'E_CONFIG');
    assert.match(err.message, /regions\[0\]\.lat/);
    assert.equal(readFileSync(file, 'utf8'), text);
  });

  void it('prunes health reports older than 24 hours', async () => {
    let now = Date.now();
    const store = new MemoryStateStore({ now: () => now });
    await store.start();
    await store.createRegion(region('eu'));
    await store.reportHealth(report('eu', 'old', { reportedAt: now, expiresAt: now + 1000 }));
    now += 25 * 60 * 60 * 1000;
    await store.reportHealth(report('eu', 'new', { reportedAt: now, expiresAt: now + 1000 }));
    assert.deepEqual([...(store.current().health.get('eu')?.keys() ?? [])], ['new']);
    await store.close();
  });
});

void describe('snapshot codec and ReplicaStateStore', () => {
  void it('round-trips a snapshot through JSON and serves it read-only', async () => {
    const primary = new MemoryStateStore({});
    await primary.start();
    await primary.createRegion(region('eu', { capacity: 10 }));
    await primary.createBackend('eu', { id: 'web-1', url: 'http://127.0.0.1:8080' });
    await primary.reportHealth(
      report('eu', 'proxy-a', { backends: [{ backendId: 'web-1', healthy: true }] }),
    );

    const wire = JSON.parse(JSON.stringify(encodeSnapshot(primary.current()))) as unknown;
    const copy = decodeSnapshot(wire);
    assert.deepEqual(encodeSnapshot(copy), encodeSnapshot(primary.current()));

    const replica = new ReplicaStateStore();
    const changes: string[] = [];
    replica.onChange((s, c) => changes.push(`${c.kind}:${s.regions.size}`));
    replica.apply(copy);
    assert.deepEqual(replica.current().regions.get('eu'), primary.current().regions.get('eu'));
    assert.deepEqual(changes, ['resync:1']);
    await rejectsWith(replica.createRegion(region('us')), 'E_UNAVAILABLE');
    await rejectsWith(replica.reportHealth(report('eu', 'x')), 'E_UNAVAILABLE');
    await replica.close();
    await primary.close();
  });

  void it('decodeSnapshot names what is wrong', () => {
    assert.throws(() => decodeSnapshot({ format: 2 }), /format/);
    assert.throws(
      () =>
        decodeSnapshot({
          format: 1,
          version: 1,
          syncedAt: 0,
          regions: [],
          backends: [
            {
              id: 'b',
              regionId: 'ghost',
              url: 'http://x',
              weight: 1,
              state: 'active',
              createdAt: '2024-01-01T00:00:00.000Z',
              updatedAt: '2024-01-01T00:00:00.000Z',
            },
          ],
          health: [],
        }),
      /backends\[0\]\.regionId/,
    );
  });
});
