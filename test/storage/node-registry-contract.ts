// The contract every NodeRegistry passes (memory and Redis: node-registries.test.ts runs it on both).
// Heartbeats lapse for real here, with short TTLs, polled with waitFor.
import { strict as assert } from 'node:assert';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { nodeState, type NodeRecord, type NodeRegistry } from '../../src/storage/node-registry.js';
import { waitFor } from '../helpers/wait.js';

export interface NodeRegistryFixture {
  readonly registry: NodeRegistry;
  /** The registry as another process sees it (Redis: another connection; memory: the same store). */
  readonly other: NodeRegistry;
  cleanup(): Promise<void>;
}

const LONG = { ttlMs: 60_000, forgetAfterMs: 3_600_000 };

function node(id: string, instance: string, overrides: Partial<NodeRecord> = {}): NodeRecord {
  return {
    id,
    instance,
    roles: ['dns', 'api'],
    addresses: ['dns udp 127.0.0.1:5353', 'api http://127.0.0.1:8053'],
    version: '1.2.3',
    startedAt: '2026-01-01T00:00:00.000Z',
    configHash: 'ab'.repeat(32),
    ...overrides,
  };
}

export function runNodeRegistryContract(name: string, make: () => Promise<NodeRegistryFixture>): void {
  describe(`node registry contract: ${name}`, () => {
    let fx: NodeRegistryFixture;
    beforeEach(async () => {
      fx = await make();
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('lists announced nodes sorted by id with the whole record, up until their heartbeat lapses', async () => {
      assert.deepEqual((await fx.registry.list()).nodes, []);
      const b = await fx.registry.announce(node('b', 'i-b', { roles: ['proxy'], region: 'eu-west' }), LONG);
      await fx.other.announce(node('a', 'i-a'), LONG);
      const listing = await fx.registry.list();
      assert.deepEqual(
        listing.nodes.map((n) => n.id),
        ['a', 'b'],
      );
      const seen = listing.nodes[1];
      assert.deepEqual(seen, b);
      assert.equal(seen?.region, 'eu-west');
      assert.deepEqual(seen?.roles, ['proxy']);
      assert.ok(b.expiresAt - b.lastSeen === 60_000, 'expiry is the TTL after the heartbeat');
      assert.ok(Math.abs(listing.now - Date.now()) < 5_000, 'the listing carries the store clock');
      for (const n of listing.nodes) assert.equal(nodeState(n, listing.now), 'up');
    });

    it('refuses the same id under another instance while alive, naming it; the same instance refreshes', async () => {
      const first = await fx.registry.announce(node('n1', 'first'), LONG);
      await assert.rejects(
        fx.other.announce(node('n1', 'second'), LONG),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'E_CONFLICT');
          assert.match(err.message, /node id "n1" is already in use by a running node \(instance first/);
          return true;
        },
      );
      const again = await fx.registry.announce(node('n1', 'first', { version: '1.2.4' }), LONG);
      assert.ok(again.lastSeen >= first.lastSeen);
      const [only] = (await fx.other.list()).nodes;
      assert.equal(only?.instance, 'first');
      assert.equal(only?.version, '1.2.4');
    });

    it('shows a node lost once its heartbeat lapses; its id is then free for a restart', async () => {
      await fx.registry.announce(node('n1', 'first'), { ttlMs: 200, forgetAfterMs: 3_600_000 });
      const lost = await waitFor('n1 shown lost', async () => {
        const l = await fx.other.list();
        const n = l.nodes.find((x) => x.id === 'n1');
        return n !== undefined && nodeState(n, l.now) === 'lost' ? n : undefined;
      });
      assert.equal(lost.instance, 'first');
      const restarted = await fx.other.announce(node('n1', 'restarted'), LONG);
      assert.equal(restarted.instance, 'restarted');
    });

    it('deregistering frees the id at once, but only for the instance that holds it', async () => {
      await fx.registry.announce(node('n1', 'first'), LONG);
      assert.equal(await fx.other.deregister('n1', 'someone-else'), false);
      assert.equal((await fx.registry.list()).nodes.length, 1);
      assert.equal(await fx.registry.deregister('n1', 'first'), true);
      assert.deepEqual((await fx.other.list()).nodes, []);
      await fx.other.announce(node('n1', 'second'), LONG);
      assert.equal(await fx.registry.deregister('n1', 'first'), false);
    });

    it('forgets entries lost for longer than forgetAfterMs at the next announcement', async () => {
      await fx.registry.announce(node('gone', 'g'), { ttlMs: 50, forgetAfterMs: 50 });
      await fx.registry.announce(node('stays', 's'), LONG);
      await waitFor('the lost node forgotten', async () => {
        await fx.other.announce(node('stays', 's'), { ttlMs: 60_000, forgetAfterMs: 50 });
        const ids = (await fx.other.list()).nodes.map((n) => n.id);
        return ids.length === 1 && ids[0] === 'stays';
      });
    });

    it('rejects malformed records and options with E_VALIDATION naming the field, storing nothing', async () => {
      const bad: [unknown, RegExp][] = [
        [{ ...node('x', 'i'), roles: ['dns', 'mail'] }, /roles/],
        [{ ...node('x', 'i'), id: '' }, /id/],
        [{ ...node('x', 'i'), addresses: 'dns' }, /addresses/],
        [{ ...node('x', 'i'), version: 7 }, /version/],
      ];
      for (const [record, field] of bad)
        await assert.rejects(
          fx.registry.announce(record as NodeRecord, LONG),
          (err: Error & { code?: string }) => {
            assert.equal(err.code, 'E_VALIDATION');
            assert.match(err.message, field);
            return true;
          },
        );
      await assert.rejects(fx.registry.announce(node('x', 'i'), { ttlMs: 0, forgetAfterMs: 0 }), {
        code: 'E_VALIDATION',
      });
      assert.deepEqual((await fx.registry.list()).nodes, []);
    });
  });
}
