// The contract every OpsRecordStore passes (memory and Redis run the same cases).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isMeridianError } from '../../src/core/errors.js';
import type {
  AlertInput,
  AlertRecord,
  AuditRecord,
  OpsRecordStore,
  RecordKind,
  RecordOf,
  RecordQuery,
} from '../../src/storage/ops-record-store.js';

const DAY = 86_400_000;

/** Returns a fresh, started, empty store; the suite closes it. */
export type StoreFactory = () => Promise<OpsRecordStore>;

async function all<K extends RecordKind>(
  store: OpsRecordStore,
  kind: K,
  q: RecordQuery,
): Promise<RecordOf[K][]> {
  const out: RecordOf[K][] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 1000; pages++) {
    const page = await store.query(kind, cursor === undefined ? q : { ...q, cursor });
    assert.ok(page.items.length <= (q.limit ?? 100), 'a page never exceeds the limit');
    out.push(...page.items);
    if (page.nextCursor === undefined) return out;
    cursor = page.nextCursor;
  }
  throw new Error('paging did not end');
}

function isValidationError(field: string) {
  return (err: unknown): boolean => {
    assert.ok(isMeridianError(err), `expected MeridianError, got ${String(err)}`);
    assert.equal(err.code, 'E_VALIDATION');
    assert.equal(err.field, field);
    return true;
  };
}

const alert = (i: number, over: Partial<AlertInput> = {}): AlertInput => ({
  type: 'region_health',
  level: 'warning',
  subject: `region/r${i}`,
  message: `alert ${i}`,
  ...over,
});

export function recordStoreContract(name: string, factory: StoreFactory): void {
  void describe(`OpsRecordStore contract: ${name}`, () => {
    const withStore = async (fn: (store: OpsRecordStore) => Promise<void>): Promise<void> => {
      const store = await factory();
      try {
        await fn(store);
      } finally {
        await store.close();
      }
    };

    void it('append returns the record with an id and an RFC 3339 time taken from it', () =>
      withStore(async (store) => {
        const at = Date.UTC(2025, 5, 1, 12, 0, 0, 123);
        const r = await store.append(
          'audit',
          {
            actor: 'token:ab12cd34…',
            action: 'region.create',
            target: 'region/eu-west',
            after: { id: 'eu-west' },
          },
          { time: at },
        );
        assert.ok(r !== undefined);
        assert.match(r.id, /^\d+-\d+$/);
        assert.equal(r.time, '2025-06-01T12:00:00.123Z');
        assert.equal(Number(r.id.split('-')[0]), at);
        assert.deepEqual(r.after, { id: 'eu-west' });
        const page = await store.query('audit');
        assert.deepEqual(page.items, [r]);
        assert.equal(page.nextCursor, undefined);
      }));

    void it('orders newest first by default and oldest first with order asc; times never go backwards', () =>
      withStore(async (store) => {
        const base = Date.now() - 60_000;
        for (let i = 0; i < 5; i++) await store.append('alert', alert(i), { time: base + i * 1000 });
        // Two in the same millisecond, and one "older" than the newest: stamped no earlier.
        await store.append('alert', alert(5), { time: base + 4000 });
        const late = await store.append('alert', alert(6), { time: base });
        assert.ok(late !== undefined && Date.parse(late.time) >= base + 4000);
        const desc = (await store.query('alert')).items.map((r) => r.message);
        assert.deepEqual(desc, ['alert 6', 'alert 5', 'alert 4', 'alert 3', 'alert 2', 'alert 1', 'alert 0']);
        const asc = (await store.query('alert', { order: 'asc' })).items.map((r) => r.message);
        assert.deepEqual(asc, [...desc].reverse());
        const ids = (await store.query('alert', { order: 'asc' })).items.map((r) => r.id);
        assert.equal(new Set(ids).size, ids.length, 'ids are unique');
      }));

    void it('keeps audit and alert records apart', () =>
      withStore(async (store) => {
        await store.append('audit', { actor: 'a', action: 'region.create', target: 'region/x' });
        await store.append('alert', alert(1));
        assert.equal((await store.query('audit')).items.length, 1);
        assert.equal((await store.query('alert')).items.length, 1);
      }));

    void it('filters by an inclusive time range', () =>
      withStore(async (store) => {
        const base = Date.UTC(2025, 0, 1);
        for (let i = 0; i < 10; i++) await store.append('alert', alert(i), { time: base + i * 60_000 });
        const got = await store.query('alert', {
          since: base + 3 * 60_000,
          until: base + 6 * 60_000,
          order: 'asc',
        });
        assert.deepEqual(
          got.items.map((r) => r.message),
          ['alert 3', 'alert 4', 'alert 5', 'alert 6'],
        );
        assert.equal((await store.query('alert', { since: base + 9 * 60_000 + 1 })).items.length, 0);
        assert.equal((await store.query('alert', { until: base - 1 })).items.length, 0);
      }));

    void it('filters audit records by actor and target (exact or prefix*)', () =>
      withStore(async (store) => {
        const add = (actor: string, target: string) =>
          store.append('audit', { actor, action: 'region.update', target });
        await add('token:aaaa1111…', 'region/eu-west');
        await add('token:bbbb2222…', 'region/eu-central');
        await add('token:aaaa1111…', 'region/us-east');
        await add('task:nightly', 'region/eu-west');
        const byActor = await store.query('audit', { actor: 'token:aaaa1111…' });
        assert.deepEqual(
          byActor.items.map((r) => r.target),
          ['region/us-east', 'region/eu-west'],
        );
        const byTarget = await store.query('audit', { target: 'region/eu-west' });
        assert.deepEqual(
          byTarget.items.map((r) => r.actor),
          ['task:nightly', 'token:aaaa1111…'],
        );
        const byPrefix = await store.query('audit', { target: 'region/eu-*' });
        assert.equal(byPrefix.items.length, 3);
        const both = await store.query('audit', { actor: 'token:aaaa1111…', target: 'region/eu-*' });
        assert.deepEqual(
          both.items.map((r) => r.target),
          ['region/eu-west'],
        );
      }));

    void it('filters alerts by minimum level and by type', () =>
      withStore(async (store) => {
        await store.append('alert', alert(1, { level: 'info', type: 'region_health' }));
        await store.append('alert', alert(2, { level: 'warning', type: 'backend_health' }));
        await store.append('alert', alert(3, { level: 'critical', type: 'region_health' }));
        await store.append('alert', alert(4, { level: 'warning', type: 'task_failed' }));
        const warn = await store.query('alert', { level: 'warning' });
        assert.deepEqual(
          warn.items.map((r) => r.message),
          ['alert 4', 'alert 3', 'alert 2'],
        );
        const crit = await store.query('alert', { level: 'critical' });
        assert.deepEqual(
          crit.items.map((r) => r.message),
          ['alert 3'],
        );
        const type = await store.query('alert', { type: 'region_health' });
        assert.deepEqual(
          type.items.map((r) => r.message),
          ['alert 3', 'alert 1'],
        );
        const types = await store.query('alert', {
          type: ['task_failed', 'backend_health'],
          level: 'warning',
        });
        assert.deepEqual(
          types.items.map((r) => r.message),
          ['alert 4', 'alert 2'],
        );
      }));

    void it('pages with limit and cursor: every matching record exactly once, in order, both directions', () =>
      withStore(async (store) => {
        const base = Date.now() - 3_600_000;
        for (let i = 0; i < 23; i++) {
          await store.append('alert', alert(i, { level: i % 3 === 0 ? 'critical' : 'info' }), {
            time: base + i,
          });
        }
        for (const order of ['desc', 'asc'] as const) {
          const everything = await all(store, 'alert', { limit: 5, order });
          assert.equal(everything.length, 23);
          const nums = everything.map((r) => Number(r.message.split(' ')[1]));
          const expected = [...Array(23).keys()];
          assert.deepEqual(nums, order === 'asc' ? expected : expected.reverse());
          const crit = await all(store, 'alert', { limit: 2, order, level: 'critical' });
          assert.deepEqual(
            crit.map((r) => r.message),
            [0, 3, 6, 9, 12, 15, 18, 21][order === 'asc' ? 'slice' : 'reverse']().map((i) => `alert ${i}`),
          );
        }
        const first = await store.query('alert', { limit: 5 });
        assert.equal(first.items.length, 5);
        assert.ok(first.nextCursor !== undefined);
        const exact = await store.query('alert', { limit: 23 });
        assert.equal(exact.items.length, 23);
      }));

    void it('pages within a time range', () =>
      withStore(async (store) => {
        const base = Date.UTC(2025, 2, 1);
        for (let i = 0; i < 30; i++)
          await store.append(
            'audit',
            { actor: 'a', action: 'x.y', target: `t/${i}` },
            { time: base + i * 1000 },
          );
        const got = await all(store, 'audit', { since: base + 10_000, until: base + 19_000, limit: 3 });
        assert.deepEqual(
          got.map((r) => r.target),
          [19, 18, 17, 16, 15, 14, 13, 12, 11, 10].map((i) => `t/${i}`),
        );
      }));

    void it('rejects a bad limit, cursor or record with E_VALIDATION naming the field', () =>
      withStore(async (store) => {
        await assert.rejects(store.query('audit', { limit: 0 }), isValidationError('limit'));
        await assert.rejects(store.query('audit', { limit: 1001 }), isValidationError('limit'));
        await assert.rejects(store.query('audit', { cursor: 'nope' }), isValidationError('cursor'));
        await assert.rejects(
          store.append('alert', { ...alert(1), level: 'loud' as AlertInput['level'] }),
          isValidationError('level'),
        );
        await assert.rejects(
          store.append('audit', { actor: '', action: 'a.b', target: 't' }),
          isValidationError('actor'),
        );
        assert.equal((await store.query('alert')).items.length, 0);
      }));

    void it('deduplicates appends with the same key inside the window', () =>
      withStore(async (store) => {
        const a = await store.append('alert', alert(1), {
          dedupeKey: 'region_health:region/r1:down',
          dedupeMs: 60_000,
        });
        const b = await store.append('alert', alert(1), {
          dedupeKey: 'region_health:region/r1:down',
          dedupeMs: 60_000,
        });
        const c = await store.append('alert', alert(1), {
          dedupeKey: 'region_health:region/r1:up',
          dedupeMs: 60_000,
        });
        assert.ok(a !== undefined);
        assert.equal(b, undefined);
        assert.ok(c !== undefined);
        const short = await store.append('alert', alert(2), { dedupeKey: 'short', dedupeMs: 30 });
        await new Promise((r) => setTimeout(r, 80));
        const again = await store.append('alert', alert(2), { dedupeKey: 'short', dedupeMs: 30 });
        assert.ok(short !== undefined && again !== undefined);
        assert.equal((await store.query('alert')).items.length, 4);
      }));

    void it('records an append with an idempotency key once, per kind', () =>
      withStore(async (store) => {
        const entry = { actor: 'token:ab12cd34…', action: 'region.create', target: 'region/eu' };
        const first = await store.append('audit', entry, { idempotencyKey: 'outbox-1' });
        const again = await store.append('audit', entry, { idempotencyKey: 'outbox-1' });
        const other = await store.append('audit', entry, { idempotencyKey: 'outbox-2' });
        const plain = await store.append('audit', entry);
        const alertWithSameKey = await store.append('alert', alert(1), { idempotencyKey: 'outbox-1' });
        assert.ok(first !== undefined && other !== undefined && plain !== undefined);
        assert.equal(again, undefined);
        assert.ok(alertWithSameKey !== undefined, 'keys are per kind');
        assert.deepEqual(
          (await store.query('audit', { order: 'asc' })).items.map((r) => r.id),
          [first.id, other.id, plain.id],
        );
      }));

    void it('cleanup by age drops the old and keeps every younger record', () =>
      withStore(async (store) => {
        const now = Date.now();
        const ages = [45, 40, 31, 30.5, 29.9, 20, 1, 0];
        for (const age of ages) {
          await store.append(
            'audit',
            { actor: 'a', action: 'x.y', target: `age/${age}` },
            { time: now - age * DAY },
          );
          await store.append('alert', alert(age), { time: now - age * DAY });
        }
        const removed = await store.cleanup({ maxAgeMs: 30 * DAY, maxCount: 1000 }, now);
        assert.deepEqual(removed, { audit: 4, alert: 4 });
        const left = (await store.query('audit', { order: 'asc' })).items.map((r) => r.target);
        assert.deepEqual(left, ['age/29.9', 'age/20', 'age/1', 'age/0']);
        for (const r of (await store.query('alert')).items) assert.ok(Date.parse(r.time) >= now - 30 * DAY);
        assert.equal((await store.query('alert')).items.length, 4);
        // Nothing older than the limit is returned, even when asked for explicitly.
        assert.equal((await store.query('audit', { until: now - 30 * DAY - 1 })).items.length, 0);
        assert.deepEqual(await store.cleanup({ maxAgeMs: 30 * DAY, maxCount: 1000 }, now), {
          audit: 0,
          alert: 0,
        });
      }));

    void it('cleanup by count keeps the newest maxCount per kind', () =>
      withStore(async (store) => {
        const base = Date.now() - 1000;
        for (let i = 0; i < 12; i++) await store.append('alert', alert(i), { time: base + i });
        for (let i = 0; i < 3; i++)
          await store.append('audit', { actor: 'a', action: 'x.y', target: `t/${i}` });
        const removed = await store.cleanup({ maxAgeMs: 365 * DAY, maxCount: 5 });
        assert.deepEqual(removed, { audit: 0, alert: 7 });
        const left = (await store.query('alert', { order: 'asc' })).items.map((r) => r.message);
        assert.deepEqual(
          left,
          [7, 8, 9, 10, 11].map((i) => `alert ${i}`),
        );
        assert.equal((await store.query('audit')).items.length, 3);
        // Appends after a cleanup still get later ids.
        const next = await store.append('alert', alert(99));
        assert.equal((await store.query('alert', { limit: 1 })).items[0]?.id, next?.id);
      }));
  });
}

export type { AlertRecord, AuditRecord };
