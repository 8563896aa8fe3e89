// The contract both PolicyStore implementations pass.
import { strict as assert } from 'node:assert';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Policy, PolicyStore } from '../../src/storage/policy-store.js';
import { bandwidth, quota, rateLimit, waf, asRateLimit } from '../proxy/policy/fixtures.js';
import { waitFor } from '../helpers/wait.js';

export interface StoreFixture {
  readonly store: PolicyStore;
  /**
   * Another node on the same source of truth, started now. For a store whose nodes follow changes
   * live (`live`), it must see later writes within a second.
   */
  peer(): Promise<PolicyStore>;
  cleanup(): Promise<void>;
}

export interface StoreTraits {
  /** Other nodes follow changes while running (pub/sub); otherwise they see them on their next start. */
  readonly live: boolean;
}

function ids(policies: readonly Policy[]): string[] {
  return policies.map((p) => p.id);
}

export function runPolicyStoreContract(
  name: string,
  make: () => Promise<StoreFixture>,
  traits: StoreTraits,
): void {
  describe(`policy store contract: ${name}`, () => {
    let fx: StoreFixture;
    let store: PolicyStore;
    beforeEach(async () => {
      fx = await make();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('creates, reads and lists; defaults filled; a duplicate id is a conflict', async () => {
      const created = await store.put(rateLimit('api-rl'));
      assert.deepEqual(created, {
        id: 'api-rl',
        type: 'rate_limit',
        rate: 10,
        burst: 20,
        key: 'client_ip',
        mode: 'local',
        enabled: true,
        description: '',
        scope: 'global',
      });
      assert.deepEqual(store.get('api-rl'), created);
      assert.deepEqual(ids(store.current()), ['api-rl']);
      assert.ok(Object.isFrozen(store.current()) && Object.isFrozen(store.get('api-rl')));
      await assert.rejects(store.put(rateLimit('api-rl', { rate: 5 })), { code: 'E_CONFLICT' });
      assert.equal(asRateLimit(store.get('api-rl')).rate, 10);
      assert.throws(() => store.get('nope'), { code: 'E_NOT_FOUND' });
    });

    it('refuses invalid policies naming the field, and unsafe WAF patterns', async () => {
      await assert.rejects(store.put(rateLimit('x', { rate: -1 })), { code: 'E_VALIDATION', field: 'rate' });
      await assert.rejects(store.put(rateLimit('x', { extra: 1 })), { code: 'E_VALIDATION', field: 'extra' });
      await assert.rejects(store.put({ id: 'x', type: 'teleport' }), { code: 'E_VALIDATION', field: 'type' });
      await assert.rejects(store.put(rateLimit('Bad_Id')), { code: 'E_VALIDATION', field: 'id' });
      await assert.rejects(store.put(rateLimit('x', { key: 'header:' })), {
        code: 'E_VALIDATION',
        field: 'key',
      });
      // Backreferences and lookaround need backtracking: RE2 refuses them.
      await assert.rejects(
        store.put(waf('w', [{ id: 'r1', pattern: '(a)\\1', target: 'path', action: 'block' }])),
        { code: 'E_VALIDATION', field: 'rules[0].pattern' },
      );
      await assert.rejects(
        store.put(waf('w', [{ id: 'r1', pattern: '10.0.0.0/33', target: 'client_ip', action: 'block' }])),
        { code: 'E_VALIDATION', field: 'rules[0].pattern' },
      );
      await assert.rejects(
        store.put(
          waf('w', [
            { id: 'r1', pattern: 'a', target: 'path', action: 'block' },
            { id: 'r1', pattern: 'b', target: 'path', action: 'block' },
          ]),
        ),
        { code: 'E_VALIDATION', field: 'rules[1].id' },
      );
      assert.deepEqual(store.current(), []);
    });

    it('updates by merging fields; id and type are fixed; a bad patch changes nothing', async () => {
      await store.put(rateLimit('rl'));
      const updated = asRateLimit(await store.update('rl', { rate: 50, description: 'faster' }));
      assert.equal(updated.rate, 50);
      assert.equal(updated.description, 'faster');
      assert.equal(updated.burst, 20);
      await assert.rejects(store.update('rl', { rate: 0 }), { code: 'E_VALIDATION', field: 'rate' });
      await assert.rejects(store.update('rl', { type: 'quota' }), { code: 'E_VALIDATION', field: 'type' });
      await assert.rejects(store.update('rl', { id: 'other' }), { code: 'E_VALIDATION', field: 'id' });
      await assert.rejects(store.update('missing', { rate: 1 }), { code: 'E_NOT_FOUND' });
      assert.equal(asRateLimit(store.get('rl')).rate, 50);
    });

    it('enables, disables and removes', async () => {
      await store.put(quota('q'));
      assert.equal((await store.setEnabled('q', false)).enabled, false);
      assert.equal(store.get('q').enabled, false);
      assert.equal((await store.setEnabled('q', true)).enabled, true);
      await store.remove('q');
      assert.deepEqual(store.current(), []);
      await assert.rejects(store.remove('q'), { code: 'E_NOT_FOUND' });
      await assert.rejects(store.setEnabled('q', true), { code: 'E_NOT_FOUND' });
    });

    it('filters by type, region, enabled and client', async () => {
      await store.importBatch([
        rateLimit('a-rl', { scope: 'eu-west' }),
        rateLimit('b-rl', { key: 'header:x-api-key', enabled: false }),
        quota('c-q', { scope: 'us-east' }),
        bandwidth('d-bw'),
        waf('e-waf', [
          { id: 'bad-net', pattern: '192.0.2.0/24, 2001:db8::/32', target: 'client_ip', action: 'block' },
        ]),
        waf('f-waf', [{ id: 'admin', pattern: '^/admin', target: 'path', action: 'block' }]),
      ]);
      assert.deepEqual(ids(store.list({ type: 'rate_limit' })), ['a-rl', 'b-rl']);
      assert.deepEqual(ids(store.list({ region: 'eu-west' })), ['a-rl', 'b-rl', 'd-bw', 'e-waf', 'f-waf']);
      assert.deepEqual(ids(store.list({ enabled: false })), ['b-rl']);
      assert.deepEqual(ids(store.list({ client: '192.0.2.55' })), ['e-waf']);
      assert.deepEqual(ids(store.list({ client: '2001:db8::1' })), ['e-waf']);
      assert.deepEqual(ids(store.list({ client: '198.51.100.1' })), []);
      assert.deepEqual(ids(store.list({ client: 'header:x-api-key' })), ['b-rl']);
      assert.deepEqual(ids(store.list({ type: 'rate_limit', enabled: true, region: 'us-east' })), []);
      assert.deepEqual(ids(store.list()), ['a-rl', 'b-rl', 'c-q', 'd-bw', 'e-waf', 'f-waf']);
    });

    it('imports all or nothing: one bad entry rejects the batch with its index and field', async () => {
      await store.put(rateLimit('keep', { rate: 1 }));
      const before = await store.exportAll();
      await assert.rejects(
        store.importBatch([
          rateLimit('keep', { rate: 99 }),
          quota('new-q'),
          rateLimit('broken', { burst: 'lots' }),
          bandwidth('bw'),
        ]),
        (err: { code: string; field: string; message: string }) => {
          assert.equal(err.code, 'E_VALIDATION');
          assert.equal(err.field, 'policies[2].burst');
          assert.match(err.message, /policies\[2\]\.burst/);
          return true;
        },
      );
      await assert.rejects(store.importBatch([quota('dup'), quota('dup')]), {
        code: 'E_VALIDATION',
        field: 'policies[1].id',
      });
      assert.deepEqual(await store.exportAll(), before);
      assert.deepEqual(store.current(), before);
    });

    it('imports: creates and replaces by id, and with replace removes what the batch does not name', async () => {
      await store.put(rateLimit('old'));
      await store.put(rateLimit('same', { rate: 1 }));
      const r1 = await store.importBatch([rateLimit('same', { rate: 2 }), quota('fresh')]);
      assert.deepEqual(r1, { created: 1, updated: 1, removed: 0, total: 3 });
      assert.equal(asRateLimit(store.get('same')).rate, 2);
      const r2 = await store.importBatch([quota('fresh', { limit: 5 })], { replace: true });
      assert.deepEqual(r2, { created: 0, updated: 1, removed: 2, total: 1 });
      assert.deepEqual(ids(store.current()), ['fresh']);
    });

    it('export → import into an empty store round-trips', async () => {
      await store.importBatch([
        rateLimit('a', { mode: 'cluster' }),
        waf('b', [{ id: 'r', pattern: '(?i)select.+from', target: 'query', action: 'log', priority: 5 }]),
      ]);
      const exported = JSON.parse(JSON.stringify(await store.exportAll())) as unknown[];
      await store.importBatch([], { replace: true });
      assert.deepEqual(store.current(), []);
      await store.importBatch(exported);
      assert.deepEqual(JSON.parse(JSON.stringify(store.current())), exported);
    });

    it('notifies listeners with the new snapshot after every change', async () => {
      const seen: string[][] = [];
      const off = store.onChange((policies) => seen.push(ids(policies)));
      await store.put(rateLimit('one'));
      await waitFor('listener saw the create', () => seen.some((s) => s.join() === 'one'), {
        timeoutMs: 1000,
      });
      await store.put(quota('two'));
      await waitFor('listener saw the second create', () => seen.some((s) => s.join() === 'one,two'), {
        timeoutMs: 1000,
      });
      off();
      const count = seen.length;
      await store.remove('one');
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(seen.length, count, 'no calls after unsubscribe');
    });

    it('another node sees the policies (live: within 1 s)', async () => {
      await store.put(rateLimit('first'));
      const peer = await fx.peer();
      assert.deepEqual(ids(peer.current()), ['first']);
      if (traits.live) {
        await store.put(quota('second'));
        const started = Date.now();
        await waitFor('peer saw the change', () => ids(peer.current()).join() === 'first,second', {
          timeoutMs: 1000,
        });
        assert.ok(Date.now() - started <= 1000);
        await store.setEnabled('first', false);
        await waitFor('peer saw the disable', () => peer.get('first').enabled === false, { timeoutMs: 1000 });
      }
    });
  });
}
