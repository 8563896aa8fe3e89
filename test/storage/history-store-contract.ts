// The HistoryStore contract (src/storage/history-store.ts), run against every backend by
// history-stores.test.ts: rollups of one minute and region written by several nodes add up, range
// and region queries, health events with dedupe, retention pruning, bad input refused.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HealthEvent, HistoryStore } from '../../src/storage/history-store.js';
import { isMeridianError } from '../../src/core/errors.js';

/** Opens a store; `sharing` opens another node's view of the same store (same file or Redis prefix). */
export interface HistoryFixture {
  readonly open: () => Promise<HistoryStore>;
  /** A second node on the same storage; undefined when the backend is single-node (memory). */
  readonly openPeer?: (() => Promise<HistoryStore>) | undefined;
}

// Recent minutes (the Redis backend expires rollup keys `retentionMs` after their minute), at the
// start of an hour so that minute(0)…minute(59) share one hour rollup.
const T0 = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 2 * 3_600_000;
const minute = (n: number): number => T0 + n * 60_000;

function event(t: number, region: string, healthy: boolean, backend: string | null = null): HealthEvent {
  return {
    t,
    region,
    backend,
    healthy,
    reason: healthy ? 'recovered' : 'connect ECONNREFUSED',
    source: 'proxy',
  };
}

export function historyStoreContract(name: string, fixture: HistoryFixture): void {
  void describe(`HistoryStore contract: ${name}`, () => {
    void it('adds up rollups of the same minute and region, keeps others apart', async () => {
      const a = await fixture.open();
      const b = fixture.openPeer === undefined ? a : await fixture.openPeer();
      await a.addTraffic([
        { minute: minute(0), region: 'eu-west', counters: { dns: 10, 'dns:DE:EU': 7, 'req:web-1': 3 } },
        { minute: minute(0), region: 'us-east', counters: { dns: 4 } },
      ]);
      await b.addTraffic([
        { minute: minute(0), region: 'eu-west', counters: { dns: 5, 'dns:DE:EU': 1, 'err:web-1': 2 } },
        { minute: minute(1), region: 'eu-west', counters: { dns: 1, zero: 0 } },
      ]);
      const all = await a.traffic({ from: minute(0), to: minute(1) });
      assert.deepEqual(all, [
        {
          minute: minute(0),
          region: 'eu-west',
          counters: { dns: 15, 'dns:DE:EU': 8, 'req:web-1': 3, 'err:web-1': 2 },
        },
        { minute: minute(0), region: 'us-east', counters: { dns: 4 } },
        { minute: minute(1), region: 'eu-west', counters: { dns: 1 } },
      ]);
      // The peer reads the same merged totals.
      assert.deepEqual(await b.traffic({ from: minute(0), to: minute(1) }), all);
      await a.close();
      if (b !== a) await b.close();
    });

    void it('answers time ranges (inclusive) and one region', async () => {
      const s = await fixture.open();
      await s.addTraffic(
        [0, 1, 2, 3, 4].flatMap((n) => [
          { minute: minute(n), region: 'eu-west', counters: { dns: n + 1 } },
          { minute: minute(n), region: 'ap-south', counters: { dns: 100 } },
        ]),
      );
      const mid = await s.traffic({ from: minute(1), to: minute(3), region: 'eu-west' });
      assert.deepEqual(
        mid.map((r) => [r.minute, r.region, r.counters['dns']]),
        [
          [minute(1), 'eu-west', 2],
          [minute(2), 'eu-west', 3],
          [minute(3), 'eu-west', 4],
        ],
      );
      assert.equal((await s.traffic({ from: minute(5), to: minute(9) })).length, 0);
      assert.equal((await s.traffic({ from: minute(0), to: minute(4), region: 'nowhere' })).length, 0);
      await s.close();
    });

    void it('keeps health events in time order, per region, and drops a deduplicated repeat', async () => {
      const a = await fixture.open();
      const b = fixture.openPeer === undefined ? a : await fixture.openPeer();
      assert.equal(
        await a.addHealthEvent(event(minute(2), 'eu-west', false, 'web-1'), { dedupeKey: 'k1' }),
        true,
      );
      // Another node sees the same transition: recorded once.
      assert.equal(
        await b.addHealthEvent(event(minute(2) + 5, 'eu-west', false, 'web-1'), { dedupeKey: 'k1' }),
        false,
      );
      assert.equal(await b.addHealthEvent(event(minute(1), 'eu-west', false)), true);
      assert.equal(await a.addHealthEvent(event(minute(3), 'us-east', true)), true);
      const events = await a.healthEvents({ from: minute(0), to: minute(10) });
      assert.deepEqual(
        events.map((e) => [e.t, e.region, e.backend, e.healthy]),
        [
          [minute(1), 'eu-west', null, false],
          [minute(2), 'eu-west', 'web-1', false],
          [minute(3), 'us-east', null, true],
        ],
      );
      assert.equal(events[1]?.reason, 'connect ECONNREFUSED');
      assert.equal(events[1]?.source, 'proxy');
      const eu = await a.healthEvents({ from: minute(0), to: minute(2), region: 'eu-west' });
      assert.equal(eu.length, 2);
      await a.close();
      if (b !== a) await b.close();
    });

    void it('prunes rollups and events older than the cutoff, keeps the rest', async () => {
      const s = await fixture.open();
      await s.addTraffic(
        [0, 1, 2].map((n) => ({ minute: minute(n), region: 'eu-west', counters: { dns: 1 } })),
      );
      await s.addHealthEvent(event(minute(0), 'eu-west', false));
      await s.addHealthEvent(event(minute(2), 'eu-west', true));
      const removed = await s.prune(minute(2));
      assert.equal(removed, 3);
      assert.deepEqual(
        (await s.traffic({ from: 0, to: minute(9) })).map((r) => r.minute),
        [minute(2)],
      );
      assert.deepEqual(
        (await s.healthEvents({ from: 0, to: minute(9) })).map((e) => e.t),
        [minute(2)],
      );
      assert.equal(await s.prune(minute(2)), 0);
      await s.close();
    });

    void it('adds every rollup into its hour, and keeps hours longer than minutes', async () => {
      const s = await fixture.open();
      await s.addTraffic([
        { minute: minute(0), region: 'eu-west', counters: { dns: 1 } },
        { minute: minute(59), region: 'eu-west', counters: { dns: 2, waf: 1 } },
        { minute: minute(60), region: 'eu-west', counters: { dns: 4 } },
      ]);
      const hours = await s.traffic({ from: minute(0), to: minute(60), resolution: 'hour' });
      assert.deepEqual(hours, [
        { minute: minute(0), region: 'eu-west', counters: { dns: 3, waf: 1 } },
        { minute: minute(60), region: 'eu-west', counters: { dns: 4 } },
      ]);
      // Minutes of the first hour go; the hour rollups stay.
      assert.equal(await s.prune(minute(0), minute(60)), 2);
      assert.deepEqual(
        (await s.traffic({ from: 0, to: minute(120) })).map((r) => r.minute),
        [minute(60)],
      );
      assert.equal((await s.traffic({ from: 0, to: minute(120), resolution: 'hour' })).length, 2);
      // Past the retention: the first hour goes too.
      assert.equal(await s.prune(minute(60)), 1);
      assert.deepEqual(
        (await s.traffic({ from: 0, to: minute(120), resolution: 'hour' })).map((r) => r.minute),
        [minute(60)],
      );
      await s.close();
    });

    void it('refuses bad rollups, events and ranges with a validation error naming the field', async () => {
      const s = await fixture.open();
      const refused = async (p: Promise<unknown>, field: string): Promise<void> => {
        await assert.rejects(
          p,
          (err: unknown) =>
            isMeridianError(err) && err.code === 'E_VALIDATION' && err.message.includes(field),
        );
      };
      await refused(s.addTraffic([{ minute: minute(0) + 1, region: 'eu-west', counters: {} }]), 'minute');
      await refused(s.addTraffic([{ minute: minute(0), region: 'eu west', counters: {} }]), 'region');
      await refused(s.addTraffic([{ minute: minute(0), region: 'eu-west', counters: { dns: -1 } }]), 'dns');
      await refused(s.addTraffic([{ minute: minute(0), region: 'eu-west', counters: { dns: 1.5 } }]), 'dns');
      await refused(s.traffic({ from: minute(2), to: minute(1) }), 'from');
      await refused(
        s.addHealthEvent({ ...event(minute(0), 'eu-west', true), source: 'bogus' as never }),
        'source',
      );
      assert.equal((await s.traffic({ from: 0, to: minute(9) })).length, 0);
      await s.close();
    });
  });
}
