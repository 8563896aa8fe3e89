import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStateStore } from '../../src/state/memory.js';
import { ReplicaStateStore, decodeSnapshot, encodeSnapshot } from '../../src/state/snapshot-codec.js';
import { region, rejectsWith, report, runStateStoreContract } from './contract.js';

const dirs: string[] = [];
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-state-'));
  dirs.push(dir);
  return dir;
};
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

runStateStoreContract('memory (with a file)', async () => {
  const dir = tempDir();
  const store = new MemoryStateStore({ file: join(dir, 'state.json') });
  await store.start();
  return { store, cleanup: () => store.close() };
});

runStateStoreContract('memory (no file)', async () => {
  const store = new MemoryStateStore({});
  await store.start();
  return { store, cleanup: () => store.close() };
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
    const deadline = Date.now() + 5000;
    let persisted = 0;
    while (Date.now() < deadline) {
      const json = JSON.parse(readFileSync(file, 'utf8')) as { health: unknown[] };
      persisted = json.health.length;
      if (persisted === 1) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(persisted, 1);
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
