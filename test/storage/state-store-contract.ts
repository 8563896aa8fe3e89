// The one contract every StateStore implementation passes (run by memory.test.ts and redis.test.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChangeEvent, HealthReport, RegionInput, Snapshot, WriteContext } from '../../src/core/types.js';
import { MeridianError } from '../../src/core/errors.js';
import type { AuditRecord } from '../../src/storage/ops-record-store.js';
import type { StateStore } from '../../src/storage/state-store.js';

export interface StoreUnderTest {
  store: StateStore;
  cleanup: () => Promise<void>;
  /**
   * Every audit record the store has committed, oldest first, read through the matching
   * OpsRecordStore (Redis: a RedisOpsRecordStore on the same Redis and prefix; memory: a
   * MemoryOpsRecordStore attached as the store's audit sink).
   */
  auditTrail: () => Promise<AuditRecord[]>;
}

export type MakeStore = () => Promise<StoreUnderTest>;

export const region = (id: string, extra: Partial<RegionInput> = {}): RegionInput => ({
  id,
  lat: 50.1,
  lon: 8.7,
  ipv4: ['192.0.2.10'],
  ...extra,
});

export const report = (
  regionId: string,
  reporterId: string,
  extra: Partial<HealthReport> = {},
): HealthReport => {
  const now = Date.now();
  return {
    regionId,
    reporterId,
    healthyBackends: 2,
    totalBackends: 3,
    inFlight: 4,
    requestRate: 12.5,
    p95LatencyMs: 20,
    reportedAt: now,
    expiresAt: now + 15_000,
    ...extra,
  };
};

/** Asserts that `promise` rejects with a MeridianError of `code` (and `field`, when given). */
export async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  field?: string,
): Promise<MeridianError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof MeridianError, `expected a MeridianError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, `expected ${code}, got ${caught.code}: ${caught.message}`);
  if (field !== undefined) {
    assert.equal(caught.field, field, `expected field ${field}: ${caught.message}`);
    assert.ok(caught.message.includes(field), `message names ${field}: ${caught.message}`);
  }
  return caught;
}

/** JSON round trip: what an audit record's `before`/`after` holds for a stored object. */
const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x)) as unknown;

export function runStateStoreContract(name: string, makeStore: MakeStore): void {
  void describe(`StateStore contract: ${name}`, () => {
    const withStore = (title: string, fn: (store: StateStore) => Promise<void>): void => {
      void it(title, async () => {
        const { store, cleanup } = await makeStore();
        try {
          await fn(store);
        } finally {
          await cleanup();
        }
      });
    };
    const withAudit = (
      title: string,
      fn: (store: StateStore, trail: () => Promise<AuditRecord[]>) => Promise<void>,
    ): void => {
      void it(title, async () => {
        const { store, cleanup, auditTrail } = await makeStore();
        try {
          await fn(store, auditTrail);
        } finally {
          await cleanup();
        }
      });
    };

    const ctx: WriteContext = { actor: 'token:abcd1234…', requestId: 'req-7' };

    withAudit(
      'a write with a context records exactly one audit entry: action, target, before, after, actor',
      async (store, trail) => {
        const started = Date.now();
        const created = await store.createRegion(region('eu', { weight: 5 }), ctx);
        let records = await trail();
        assert.equal(records.length, 1, JSON.stringify(records));
        const [first] = records;
        assert.ok(first !== undefined);
        assert.equal(first.action, 'region.create');
        assert.equal(first.target, 'region/eu');
        assert.equal(first.actor, ctx.actor);
        assert.equal(first.requestId, 'req-7');
        assert.equal(first.before, null);
        assert.deepEqual(first.after, plain(created));
        assert.match(first.id, /^\d+-\d+$/);
        assert.ok(Date.parse(first.time) >= started - 1000, `time ${first.time}`);

        const updated = await store.updateRegion('eu', { weight: 9, name: 'Europe' }, { actor: 'alice' });
        const drained = await store.updateRegion('eu', { state: 'draining' }, ctx);
        const undrained = await store.updateRegion('eu', { state: 'active' }, ctx);
        const backend = await store.createBackend('eu', { id: 'web-1', url: 'http://127.0.0.1:8080' }, ctx);
        const patched = await store.updateBackend('eu', 'web-1', { weight: 3 }, ctx);
        const bDrained = await store.updateBackend('eu', 'web-1', { state: 'draining' }, ctx);
        const bUndrained = await store.updateBackend('eu', 'web-1', { state: 'active' }, ctx);
        await store.removeBackend('eu', 'web-1', ctx);
        const last = store.current().regions.get('eu');
        await store.removeRegion('eu', ctx);

        records = await trail();
        const summary = records.map((r) => [r.action, r.target]);
        assert.deepEqual(summary, [
          ['region.create', 'region/eu'],
          ['region.update', 'region/eu'],
          ['region.drain', 'region/eu'],
          ['region.undrain', 'region/eu'],
          ['backend.create', 'backend/eu/web-1'],
          ['backend.update', 'backend/eu/web-1'],
          ['backend.drain', 'backend/eu/web-1'],
          ['backend.undrain', 'backend/eu/web-1'],
          ['backend.remove', 'backend/eu/web-1'],
          ['region.remove', 'region/eu'],
        ]);
        const at = (i: number): AuditRecord => {
          const r = records[i];
          assert.ok(r !== undefined, `record ${i}`);
          return r;
        };
        assert.equal(at(1).actor, 'alice');
        assert.equal(at(1).requestId, undefined);
        assert.deepEqual(at(1).before, plain(created));
        assert.deepEqual(at(1).after, plain(updated));
        assert.deepEqual([at(2).before, at(2).after], [plain(updated), plain(drained)]);
        assert.deepEqual([at(3).before, at(3).after], [plain(drained), plain(undrained)]);
        assert.deepEqual([at(4).before, at(4).after], [null, plain(backend)]);
        assert.deepEqual([at(5).before, at(5).after], [plain(backend), plain(patched)]);
        assert.deepEqual([at(6).before, at(6).after], [plain(patched), plain(bDrained)]);
        assert.deepEqual([at(7).before, at(7).after], [plain(bDrained), plain(bUndrained)]);
        assert.deepEqual([at(8).before, at(8).after], [plain(bUndrained), null]);
        assert.deepEqual([at(9).before, at(9).after], [plain(last), null]);
        for (const r of records.slice(2)) assert.equal(r.actor, ctx.actor);
        const ids = records.map((r) => r.id);
        assert.equal(new Set(ids).size, ids.length, 'ids are unique');
      },
    );

    withAudit('a failed write (404, 409, validation) records nothing', async (store, trail) => {
      await store.createRegion(region('eu'), ctx);
      await store.createBackend('eu', { id: 'web-1', url: 'http://127.0.0.1:8080' }, ctx);
      const before = (await trail()).length;
      assert.equal(before, 2);

      await rejectsWith(store.createRegion(region('eu'), ctx), 'E_CONFLICT');
      await rejectsWith(store.createRegion(region('bad', { lat: 91 }), ctx), 'E_VALIDATION', 'lat');
      await rejectsWith(store.updateRegion('nope', { weight: 1 }, ctx), 'E_NOT_FOUND');
      await rejectsWith(store.updateRegion('eu', { weight: -1 }, ctx), 'E_VALIDATION', 'weight');
      await rejectsWith(store.updateRegion('eu', { state: 'asleep' as never }, ctx), 'E_VALIDATION', 'state');
      await rejectsWith(store.removeRegion('nope', ctx), 'E_NOT_FOUND');
      await rejectsWith(
        store.createBackend('eu', { id: 'web-1', url: 'http://127.0.0.1:9' }, ctx),
        'E_CONFLICT',
      );
      await rejectsWith(store.createBackend('nope', { url: 'http://127.0.0.1:9' }, ctx), 'E_NOT_FOUND');
      await rejectsWith(store.createBackend('eu', { url: 'ftp://x' }, ctx), 'E_VALIDATION', 'url');
      await rejectsWith(store.updateBackend('eu', 'web-9', { weight: 1 }, ctx), 'E_NOT_FOUND');
      await rejectsWith(store.updateBackend('eu', 'web-1', { weight: -5 }, ctx), 'E_VALIDATION', 'weight');
      await rejectsWith(store.removeBackend('eu', 'web-9', ctx), 'E_NOT_FOUND');
      await rejectsWith(store.removeBackend('nope', 'web-1', ctx), 'E_NOT_FOUND');
      // An unusable context is refused before anything changes.
      await rejectsWith(store.createRegion(region('us'), { actor: '' }), 'E_VALIDATION', 'actor');
      await rejectsWith(
        store.updateRegion('eu', { weight: 2 }, { actor: 'x', requestId: 'r'.repeat(201) }),
        'E_VALIDATION',
        'requestId',
      );
      assert.equal(store.current().regions.has('us'), false);
      assert.equal(store.current().regions.get('eu')?.weight, 100);

      assert.equal((await trail()).length, before);
    });

    withAudit('a write without a context records nothing', async (store, trail) => {
      await store.createRegion(region('eu'));
      await store.updateRegion('eu', { weight: 3 });
      await store.updateRegion('eu', { state: 'draining' });
      await store.createBackend('eu', { id: 'web-1', url: 'http://127.0.0.1:8080' });
      await store.updateBackend('eu', 'web-1', { weight: 2 });
      await store.removeBackend('eu', 'web-1');
      await store.reportHealth(report('eu', 'proxy-a'));
      await store.removeRegion('eu');
      assert.deepEqual(await trail(), []);
      await store.createRegion(region('us'), ctx);
      assert.deepEqual(
        (await trail()).map((r) => r.action),
        ['region.create'],
      );
    });

    withStore('starts empty', (store) => {
      assert.equal(store.current().regions.size, 0);
      assert.equal(store.status().connected, true);
      return Promise.resolve();
    });

    withStore(
      'creates a region with defaults, visible in current() when the write resolves',
      async (store) => {
        const before = store.current().version;
        const created = await store.createRegion(
          region('eu-central', { country: 'de', ipv6: ['2001:db8::1'] }),
        );
        const seen = store.current().regions.get('eu-central');
        assert.deepEqual(seen, created);
        assert.equal(created.name, 'eu-central');
        assert.equal(created.country, 'DE');
        assert.equal(created.weight, 100);
        assert.equal(created.state, 'active');
        assert.equal(created.requireHealth, false);
        assert.deepEqual(created.labels, {});
        assert.deepEqual(created.ipv6, ['2001:db8::1']);
        assert.equal(created.createdAt, created.updatedAt);
        assert.ok(!Number.isNaN(Date.parse(created.createdAt)));
        assert.ok(store.current().version > before);
      },
    );

    withStore('updates a region; null clears optional fields; createdAt is kept', async (store) => {
      const created = await store.createRegion(
        region('us-east', { country: 'US', continent: 'NA', capacity: 500, labels: { tier: 'gold' } }),
      );
      const updated = await store.updateRegion('us-east', {
        weight: 7,
        country: null,
        capacity: null,
        name: 'US East',
        labels: { tier: 'silver' },
      });
      assert.equal(updated.weight, 7);
      assert.equal(updated.name, 'US East');
      assert.equal(updated.country, undefined);
      assert.equal('capacity' in updated, false);
      assert.equal(updated.continent, 'NA');
      assert.deepEqual(updated.labels, { tier: 'silver' });
      assert.equal(updated.createdAt, created.createdAt);
      assert.ok(Date.parse(updated.updatedAt) >= Date.parse(created.updatedAt));
      assert.deepEqual(store.current().regions.get('us-east'), updated);
    });

    withStore('drains a region by updating its state', async (store) => {
      await store.createRegion(region('ap'));
      await store.updateRegion('ap', { state: 'draining' });
      assert.equal(store.current().regions.get('ap')?.state, 'draining');
      await store.updateRegion('ap', { state: 'active' });
      assert.equal(store.current().regions.get('ap')?.state, 'active');
    });

    withStore('rejects invalid region input naming the field, and stores nothing', async (store) => {
      await rejectsWith(store.createRegion(region('bad-lat', { lat: 91 })), 'E_VALIDATION', 'lat');
      await rejectsWith(
        store.createRegion(region('fam', { ipv4: ['2001:db8::1'] })),
        'E_VALIDATION',
        'ipv4[0]',
      );
      await rejectsWith(
        store.createRegion(region('fam6', { ipv6: ['192.0.2.1'] })),
        'E_VALIDATION',
        'ipv6[0]',
      );
      await rejectsWith(store.createRegion(region('noaddr', { ipv4: [] })), 'E_VALIDATION', 'ipv4');
      await rejectsWith(store.createRegion(region('Bad_Id')), 'E_VALIDATION', 'id');
      await rejectsWith(
        store.createRegion({ ...region('unknown'), bogus: 1 } as unknown as RegionInput),
        'E_VALIDATION',
        'bogus',
      );
      await rejectsWith(store.createRegion(region('cc', { country: 'Germany' })), 'E_VALIDATION', 'country');
      await rejectsWith(store.createRegion(null as unknown as RegionInput), 'E_VALIDATION');
      assert.equal(store.current().regions.size, 0);

      await store.createRegion(region('ok'));
      await rejectsWith(store.updateRegion('ok', { lon: 200 }), 'E_VALIDATION', 'lon');
      await rejectsWith(store.updateRegion('ok', { ipv4: [] }), 'E_VALIDATION', 'ipv4');
      await rejectsWith(store.updateRegion('ok', { id: 'x' } as never), 'E_VALIDATION', 'id');
      assert.deepEqual(store.current().regions.get('ok')?.ipv4, ['192.0.2.10']);
    });

    withStore('404 for unknown regions and backends', async (store) => {
      await rejectsWith(store.updateRegion('nope', { weight: 1 }), 'E_NOT_FOUND');
      await rejectsWith(store.removeRegion('nope'), 'E_NOT_FOUND');
      await rejectsWith(store.createBackend('nope', { url: 'http://127.0.0.1:8080' }), 'E_NOT_FOUND');
      await rejectsWith(store.reportHealth(report('nope', 'p1')), 'E_NOT_FOUND');
      await store.createRegion(region('eu'));
      await rejectsWith(store.updateBackend('eu', 'nope', { weight: 1 }), 'E_NOT_FOUND');
      await rejectsWith(store.removeBackend('eu', 'nope'), 'E_NOT_FOUND');
      await rejectsWith(store.updateBackend('other', 'nope', { weight: 1 }), 'E_NOT_FOUND');
      assert.equal(store.current().backends.get('nope'), undefined);
      assert.equal(store.current().health.get('nope'), undefined);
    });

    withStore('409 on a duplicate create', async (store) => {
      await store.createRegion(region('eu'));
      await rejectsWith(store.createRegion(region('eu', { lat: 1 })), 'E_CONFLICT');
      assert.equal(store.current().regions.get('eu')?.lat, 50.1);
      await store.createBackend('eu', { id: 'web-1', url: 'http://127.0.0.1:8080' });
      await rejectsWith(
        store.createBackend('eu', { id: 'web-1', url: 'http://127.0.0.1:9090' }),
        'E_CONFLICT',
      );
      assert.equal(store.current().backends.get('eu')?.get('web-1')?.url, 'http://127.0.0.1:8080');
    });

    withStore('concurrent creates of one id: exactly one wins, the others get 409', async (store) => {
      const results = await Promise.allSettled(
        [1, 2, 3, 4].map((n) => store.createRegion(region('race', { weight: n }))),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.equal(won.length, 1);
      assert.equal(lost.length, 3);
      for (const r of lost) assert.equal((r.reason as MeridianError).code, 'E_CONFLICT');
      assert.deepEqual(
        store.current().regions.get('race'),
        (won[0] as PromiseFulfilledResult<unknown>).value,
      );
    });

    withStore('creates, updates and removes backends', async (store) => {
      await store.createRegion(region('eu'));
      const b = await store.createBackend('eu', { url: 'http://127.0.0.1:8080' });
      assert.equal(b.id, '127-0-0-1-8080');
      assert.equal(b.regionId, 'eu');
      assert.equal(b.weight, 100);
      assert.equal(b.state, 'active');
      assert.deepEqual(store.current().backends.get('eu')?.get(b.id), b);

      const named = await store.createBackend('eu', {
        id: 'web-2',
        url: 'https://[2001:db8::2]:8443',
        weight: 5,
      });
      assert.equal(named.weight, 5);
      const drained = await store.updateBackend('eu', 'web-2', { state: 'draining', weight: 1 });
      assert.equal(drained.state, 'draining');
      assert.equal(drained.weight, 1);
      assert.equal(drained.createdAt, named.createdAt);
      assert.deepEqual(store.current().backends.get('eu')?.get('web-2'), drained);

      await store.removeBackend('eu', b.id);
      assert.deepEqual([...(store.current().backends.get('eu')?.keys() ?? [])], ['web-2']);
    });

    withStore('rejects invalid backend input naming the field', async (store) => {
      await store.createRegion(region('eu'));
      await rejectsWith(store.createBackend('eu', { url: 'ftp://x' }), 'E_VALIDATION', 'url');
      await rejectsWith(
        store.createBackend('eu', { url: 'http://127.0.0.1', weight: -1 }),
        'E_VALIDATION',
        'weight',
      );
      await rejectsWith(
        store.createBackend('eu', { id: 'A B', url: 'http://127.0.0.1' }),
        'E_VALIDATION',
        'id',
      );
      await rejectsWith(
        store.createBackend('eu', { url: 'http://127.0.0.1', colour: 'red' } as never),
        'E_VALIDATION',
        'colour',
      );
      await store.createBackend('eu', { id: 'w', url: 'http://127.0.0.1' });
      await rejectsWith(store.updateBackend('eu', 'w', { state: 'gone' as never }), 'E_VALIDATION', 'state');
      assert.equal(store.current().backends.get('eu')?.size, 1);
    });

    withStore('removeRegion removes its backends and health reports', async (store) => {
      await store.createRegion(region('eu'));
      await store.createRegion(region('us'));
      await store.createBackend('eu', { url: 'http://127.0.0.1:8080' });
      await store.createBackend('us', { url: 'http://127.0.0.1:8081' });
      await store.reportHealth(report('eu', 'proxy-a'));
      await store.reportHealth(report('us', 'proxy-b'));
      await store.removeRegion('eu');
      const s = store.current();
      assert.equal(s.regions.has('eu'), false);
      assert.equal(s.backends.has('eu'), false);
      assert.equal(s.health.has('eu'), false);
      assert.equal(s.backends.get('us')?.size, 1);
      assert.equal(s.health.get('us')?.size, 1);
      // Re-creating the id starts clean.
      await store.createRegion(region('eu'));
      assert.equal(store.current().backends.get('eu'), undefined);
      assert.equal(store.current().health.get('eu'), undefined);
    });

    withStore(
      'stores health per reporter and keeps the last known report after it expired',
      async (store) => {
        await store.createRegion(region('eu'));
        const now = Date.now();
        const expired = report('eu', 'proxy-a:1', { reportedAt: now - 60_000, expiresAt: now - 30_000 });
        await store.reportHealth(expired);
        await store.reportHealth(
          report('eu', 'proxy-b:2', {
            backends: [{ backendId: 'web-1', healthy: false, reason: 'refused' }],
          }),
        );
        const reports = store.current().health.get('eu');
        assert.equal(reports?.size, 2);
        assert.deepEqual(reports?.get('proxy-a:1'), expired);
        assert.ok((reports?.get('proxy-a:1')?.expiresAt ?? Infinity) < Date.now());
        assert.equal(reports?.get('proxy-b:2')?.backends?.[0]?.reason, 'refused');

        const newer = report('eu', 'proxy-a:1', { healthyBackends: 0 });
        await store.reportHealth(newer);
        assert.deepEqual(store.current().health.get('eu')?.get('proxy-a:1'), newer);
        assert.equal(store.current().health.get('eu')?.size, 2);
      },
    );

    withStore('rejects invalid health reports naming the field', async (store) => {
      await store.createRegion(region('eu'));
      await rejectsWith(store.reportHealth(report('eu', 'p', { inFlight: -1 })), 'E_VALIDATION', 'inFlight');
      await rejectsWith(store.reportHealth(report('eu', '')), 'E_VALIDATION', 'reporterId');
      await rejectsWith(
        store.reportHealth(report('eu', 'p', { healthyBackends: 5, totalBackends: 1 })),
        'E_VALIDATION',
        'healthyBackends',
      );
      await rejectsWith(
        store.reportHealth({ ...report('eu', 'p'), extra: 1 } as never),
        'E_VALIDATION',
        'extra',
      );
      assert.equal(store.current().health.get('eu'), undefined);
    });

    withStore('change listeners get the new snapshot and the right ChangeEvent', async (store) => {
      const seen: { change: ChangeEvent; snapshot: Snapshot }[] = [];
      const off = store.onChange((snapshot, change) => seen.push({ snapshot, change }));
      const events = (): ChangeEvent[] => seen.map((s) => s.change).filter((c) => c.kind !== 'resync');

      await store.createRegion(region('eu'));
      await store.updateRegion('eu', { weight: 5 });
      await store.createBackend('eu', { id: 'web-1', url: 'http://127.0.0.1:8080' });
      await store.updateBackend('eu', 'web-1', { weight: 2 });
      await store.reportHealth(report('eu', 'proxy-a'));
      await store.removeBackend('eu', 'web-1');
      await store.removeRegion('eu');
      assert.deepEqual(events(), [
        { kind: 'region', regionId: 'eu', id: 'eu', op: 'upsert' },
        { kind: 'region', regionId: 'eu', id: 'eu', op: 'upsert' },
        { kind: 'backend', regionId: 'eu', id: 'web-1', op: 'upsert' },
        { kind: 'backend', regionId: 'eu', id: 'web-1', op: 'upsert' },
        { kind: 'health', regionId: 'eu', id: 'proxy-a', op: 'upsert' },
        { kind: 'backend', regionId: 'eu', id: 'web-1', op: 'delete' },
        { kind: 'region', regionId: 'eu', id: 'eu', op: 'delete' },
      ]);
      const firstWrite = seen.find((s) => s.change.kind === 'region');
      assert.equal(firstWrite?.snapshot.regions.get('eu')?.weight, 100);
      assert.equal(seen.at(-1)?.snapshot, store.current());

      // Failed writes notify nobody; unsubscribed listeners are not called.
      const count = seen.length;
      await rejectsWith(store.removeRegion('eu'), 'E_NOT_FOUND');
      assert.equal(seen.length, count);
      off();
      await store.createRegion(region('us'));
      assert.equal(seen.length, count);
    });

    withStore('a throwing listener does not break the write or other listeners', async (store) => {
      let calls = 0;
      store.onChange(() => {
        throw new Error('listener bug');
      });
      store.onChange(() => {
        calls++;
      });
      await store.createRegion(region('eu'));
      assert.ok(calls >= 1);
      assert.equal(store.current().regions.has('eu'), true);
    });

    withStore('snapshots are immutable: an old snapshot is unchanged by later writes', async (store) => {
      await store.createRegion(region('eu'));
      await store.createBackend('eu', { id: 'web-1', url: 'http://127.0.0.1:8080' });
      await store.reportHealth(report('eu', 'proxy-a'));
      const old = store.current();
      const oldRegion = old.regions.get('eu');

      await store.updateRegion('eu', { weight: 1 });
      await store.createRegion(region('us'));
      await store.createBackend('eu', { id: 'web-2', url: 'http://127.0.0.1:8081' });
      await store.reportHealth(report('eu', 'proxy-b'));
      await store.removeBackend('eu', 'web-1');

      assert.notEqual(store.current(), old);
      assert.ok(store.current().version > old.version);
      assert.equal(old.regions.size, 1);
      assert.equal(old.regions.get('eu'), oldRegion);
      assert.equal(old.regions.get('eu')?.weight, 100);
      assert.deepEqual([...(old.backends.get('eu')?.keys() ?? [])], ['web-1']);
      assert.deepEqual([...(old.health.get('eu')?.keys() ?? [])], ['proxy-a']);

      // Nothing handed out can be changed in place.
      assert.ok(Object.isFrozen(old));
      assert.ok(Object.isFrozen(oldRegion));
      assert.ok(Object.isFrozen(oldRegion?.ipv4));
      assert.throws(() => (old.regions as Map<string, unknown>).set('x', 1));
      assert.throws(() => (old.regions as Map<string, unknown>).delete('eu'));
      assert.throws(() => (old.backends.get('eu') as Map<string, unknown>).clear());
      assert.equal(old.regions.size, 1);
    });

    withStore('resync() keeps the state and status() reports it', async (store) => {
      await store.createRegion(region('eu'));
      await store.resync();
      assert.equal(store.current().regions.has('eu'), true);
      const status = store.status();
      assert.equal(status.connected, true);
      assert.ok(status.resyncs >= 1);
      assert.ok(status.snapshotAgeMs >= 0);
    });
  });
}
