// The contract every AccessStore passes (memory and Redis: access-stores.test.ts runs it on both):
// users and tokens are created, replaced, listed from the in-memory snapshot, survive a restart (or
// are seen by another node), and a removal reaches the other store.
import { strict as assert } from 'node:assert';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { AccessStore, ApiToken, User } from '../../src/storage/access-store.js';
import { waitFor } from '../helpers/wait.js';

export interface AccessStoreFixture {
  readonly store: AccessStore;
  /** A second store on the same source of truth, started now (another node, or this node restarted). */
  reopen(): Promise<AccessStore>;
  /** True when `reopen` gives a second live node (Redis): changes then reach it through the feed. */
  readonly shared: boolean;
  cleanup(): Promise<void>;
}

// A fixed, fake hash: the store keeps whatever the API hashed; hashing has its own tests.
const PASSWORD = {
  algorithm: 'scrypt',
  N: 16384,
  r: 8,
  p: 1,
  keyLength: 32,
  salt: 'c2FsdA==',
  hash: 'aGFzaA==',
} as const;

function user(name: string, overrides: Partial<User> = {}): User {
  return {
    name,
    password: PASSWORD,
    roles: ['viewer'],
    regions: [],
    disabled: false,
    createdAt: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

function token(id: string, owner: string, overrides: Partial<ApiToken> = {}): ApiToken {
  return {
    id,
    user: owner,
    name: `t-${id}`,
    kind: 'api',
    hash: `hash-${id}`,
    roles: ['viewer'],
    createdAt: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

export function runAccessStoreContract(name: string, make: () => Promise<AccessStoreFixture>): void {
  describe(`access store contract: ${name}`, () => {
    let fx: AccessStoreFixture;
    let store: AccessStore;
    beforeEach(async () => {
      fx = await make();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('creates users and reads them from the snapshot at once; a taken name is a conflict', async () => {
      assert.equal(store.current().users.size, 0);
      await store.createUser(user('alice', { roles: ['admin'] }));
      await store.createUser(user('bob'));
      assert.deepEqual([...store.current().users.keys()].sort(), ['alice', 'bob']);
      assert.deepEqual(store.current().users.get('alice')?.roles, ['admin']);
      await assert.rejects(store.createUser(user('alice')), { code: 'E_CONFLICT' });
    });

    it('replaces a user (disable, roles); replacing an unknown user is not found', async () => {
      await store.createUser(user('alice'));
      await store.replaceUser(user('alice', { disabled: true, roles: ['operator'] }));
      assert.equal(store.current().users.get('alice')?.disabled, true);
      assert.deepEqual(store.current().users.get('alice')?.roles, ['operator']);
      await assert.rejects(store.replaceUser(user('nobody')), { code: 'E_NOT_FOUND' });
    });

    it('indexes tokens by id and hash; names are unique per user, sessions are not', async () => {
      await store.createUser(user('alice'));
      await store.createUser(user('bob'));
      await store.createToken(token('t1', 'alice', { name: 'ci' }));
      await store.createToken(token('t2', 'bob', { name: 'ci' }));
      await assert.rejects(store.createToken(token('t3', 'alice', { name: 'ci' })), { code: 'E_CONFLICT' });
      await store.createToken(token('s1', 'alice', { name: 'session', kind: 'session' }));
      await store.createToken(token('s2', 'alice', { name: 'session', kind: 'session' }));
      await assert.rejects(store.createToken(token('t1', 'bob', { name: 'other' })), { code: 'E_CONFLICT' });
      await assert.rejects(store.createToken(token('t9', 'nobody')), { code: 'E_NOT_FOUND' });
      const snap = store.current();
      assert.deepEqual([...snap.tokens.keys()].sort(), ['s1', 's2', 't1', 't2']);
      assert.equal(snap.byHash.get('hash-t2')?.user, 'bob');
    });

    it('removes a token; removing it again says so', async () => {
      await store.createUser(user('alice'));
      await store.createToken(token('t1', 'alice'));
      assert.equal(await store.removeToken('t1'), true);
      assert.equal(store.current().byHash.get('hash-t1'), undefined);
      assert.equal(await store.removeToken('t1'), false);
    });

    it("removing a user removes its tokens, not others'", async () => {
      await store.createUser(user('alice'));
      await store.createUser(user('bob'));
      await store.createToken(token('t1', 'alice'));
      await store.createToken(token('t2', 'bob'));
      assert.equal(await store.removeUser('alice'), true);
      assert.equal(await store.removeUser('alice'), false);
      assert.deepEqual([...store.current().tokens.keys()], ['t2']);
    });

    it('records the last use of a token; touching a removed token does not bring it back', async () => {
      await store.createUser(user('alice'));
      await store.createToken(token('t1', 'alice'));
      await store.touchToken('t1', '2026-02-02T00:00:00.000Z');
      assert.equal(store.current().tokens.get('t1')?.lastUsedAt, '2026-02-02T00:00:00.000Z');
      await store.removeToken('t1');
      await store.touchToken('t1', '2026-02-03T00:00:00.000Z');
      assert.equal(store.current().tokens.get('t1'), undefined);
    });

    it('removes expired tokens only', async () => {
      await store.createUser(user('alice'));
      await store.createToken(token('old', 'alice', { expiresAt: '2026-01-01T00:00:00.000Z' }));
      await store.createToken(token('new', 'alice', { expiresAt: '2099-01-01T00:00:00.000Z' }));
      await store.createToken(token('forever', 'alice'));
      assert.equal(await store.removeExpired(Date.parse('2026-06-01T00:00:00.000Z')), 1);
      assert.deepEqual([...store.current().tokens.keys()].sort(), ['forever', 'new']);
    });

    it('the next store sees users and tokens; a revocation reaches a live second store within 1 s', async () => {
      await store.createUser(user('alice', { roles: ['operator'] }));
      await store.createToken(token('t1', 'alice'));
      const other = await fx.reopen();
      assert.deepEqual(other.current().users.get('alice')?.roles, ['operator']);
      assert.equal(other.current().byHash.get('hash-t1')?.id, 't1');
      if (!fx.shared) return;
      const started = Date.now();
      await store.removeToken('t1');
      await waitFor(
        'the revocation on the second store',
        () => other.current().byHash.get('hash-t1') === undefined,
        { timeoutMs: 1000 },
      );
      assert.ok(Date.now() - started < 1000);
      await store.replaceUser(user('alice', { roles: ['operator'], disabled: true }));
      await waitFor(
        'the disabled flag on the second store',
        () => other.current().users.get('alice')?.disabled === true,
        { timeoutMs: 1000 },
      );
    });
  });
}
