// The shared AccessStore on Redis. Keys (P = key prefix; the `{meridian}` hash tag keeps them in
// one Cluster slot, so the multi-key scripts work on Redis Cluster too):
//   P{meridian}:users            hash    user name → User JSON (password hash, roles, …)
//   P{meridian}:tokens           hash    token id → ApiToken JSON (the secret's SHA-256, never the secret)
//   P{meridian}:access:version   string  +1 on every change
//   P{meridian}:access:changes   pub/sub channel; the message is the new version
//
// Every write is one Lua script (check, change, version bump, PUBLISH). Each node keeps the whole
// set in memory: a change message triggers a reload (both hashes and the version in one MULTI), a
// version poll every `pollMs` (default 250 ms) catches messages lost across reconnects, and a full
// reload runs every `resyncMs`. So a revoked token stops working on every node within about
// 300 ms, while authenticating a request reads only the snapshot.
//
// With a key ring, password hashes are stored sealed (sealed-users.ts). A user this node cannot open
// (its key is missing here) is left out of this node's snapshot, logged with the key id it needs, and
// reported by `sealedStatus`; it is never served half-read.
import { MeridianError, conflict, describeError, notFound } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../infra/logger.js';
import type { RedisConnection } from '../../infra/redis/connection.js';
import { LuaScript } from '../../infra/redis/lua-script.js';
import type { KeyRing } from '../../infra/secrets/key-ring.js';
import { ChangeFollower } from './change-follower.js';
import { noKeyRing, type ResealResult, type SealedStatus } from '../sealed-records.js';
import { decodeUser, encodeUser, userStatus, type DecodedUser } from '../sealed-users.js';
import {
  accessSnapshot,
  isExpired,
  parseStoredToken,
  type AccessSnapshot,
  type AccessStore,
  type ApiToken,
  type User,
} from '../access-store.js';

export interface RedisAccessStoreOptions {
  /** Command connection (not closed by the store). */
  readonly redis: RedisConnection;
  /** Subscriber connection (closed by the store). */
  readonly subscriber: RedisConnection;
  readonly keyPrefix?: string;
  readonly pollMs?: number;
  readonly resyncMs?: number;
  readonly logger?: Logger;
  /** Seals password hashes at rest; without it they are stored as they are. */
  readonly keyRing?: KeyRing | undefined;
}

export function accessKeys(prefix: string): {
  users: string;
  tokens: string;
  version: string;
  channel: string;
} {
  const base = `${prefix}{meridian}`;
  return {
    users: `${base}:users`,
    tokens: `${base}:tokens`,
    version: `${base}:access:version`,
    channel: `${base}:access:changes`,
  };
}

// KEYS: users, tokens, version. ARGV[1]: channel; then per script. Negative results are refusals.
const BUMP = `local v = redis.call('INCR', KEYS[3]) redis.call('PUBLISH', ARGV[1], v) return v`;

const CREATE_USER = new LuaScript(`
if redis.call('HSETNX', KEYS[1], ARGV[2], ARGV[3]) == 0 then return -1 end
${BUMP}`);

const REPLACE_USER = new LuaScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then return -1 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
${BUMP}`);

// The user's tokens go with it, in the same script: no window where they outlive it.
const REMOVE_USER = new LuaScript(`
if redis.call('HDEL', KEYS[1], ARGV[2]) == 0 then return -1 end
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  local ok, t = pcall(cjson.decode, all[i + 1])
  if ok and type(t) == 'table' and t.user == ARGV[2] then redis.call('HDEL', KEYS[2], all[i]) end
end
${BUMP}`);

// ARGV: channel, id, json, user, kind, name.
const CREATE_TOKEN = new LuaScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[4]) == 0 then return -1 end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return -2 end
if ARGV[5] == 'api' then
  local all = redis.call('HVALS', KEYS[2])
  for _, json in ipairs(all) do
    local ok, t = pcall(cjson.decode, json)
    if ok and type(t) == 'table' and t.user == ARGV[4] and t.kind == 'api' and t.name == ARGV[6] then return -3 end
  end
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
${BUMP}`);

// ARGV: channel, then token ids. Returns -1 when none of them existed.
const REMOVE_TOKENS = new LuaScript(`
local n = 0
for i = 2, #ARGV do n = n + redis.call('HDEL', KEYS[2], ARGV[i]) end
if n == 0 then return -1 end
${BUMP}`);

// Compare-and-set of one token (ARGV: channel, id, expected JSON, new JSON): a last-use stamp never
// resurrects a token revoked meanwhile.
const TOUCH_TOKEN = new LuaScript(`
if redis.call('HGET', KEYS[2], ARGV[2]) ~= ARGV[3] then return -1 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
${BUMP}`);

// Compare-and-set of one user (ARGV: channel, name, expected JSON, new JSON): a re-seal never undoes
// a change made meanwhile (that change was sealed under the active key anyway).
const RESEAL_USER = new LuaScript(`
if redis.call('HGET', KEYS[1], ARGV[2]) ~= ARGV[3] then return -1 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[4])
${BUMP}`);

function unavailable(err: unknown): MeridianError {
  return new MeridianError('E_UNAVAILABLE', `access store: Redis unavailable: ${describeError(err)}`, {
    cause: err,
  });
}

export class RedisAccessStore implements AccessStore {
  readonly kind = 'redis' as const;
  readonly #redis: RedisConnection;
  readonly #keys: ReturnType<typeof accessKeys>;
  readonly #logger: Logger;
  #snapshot: AccessSnapshot = accessSnapshot([], []);
  /** The stored JSON of each token, for the compare-and-set of `touchToken`. */
  #tokenJson = new Map<string, string>();
  /** Every stored user's JSON and what opening it gave, for `sealedStatus` and `reseal`. */
  #storedUsers = new Map<string, { readonly json: string; readonly decoded: DecodedUser }>();
  readonly #keyRing: KeyRing | undefined;
  readonly #follower: ChangeFollower;

  constructor(options: RedisAccessStoreOptions) {
    this.#redis = options.redis;
    this.#keys = accessKeys(options.keyPrefix ?? 'meridian:');
    this.#logger = (options.logger ?? silentLogger).child({ component: 'access-store' });
    this.#keyRing = options.keyRing;
    this.#follower = new ChangeFollower({
      redis: this.#redis,
      subscriber: options.subscriber,
      channel: this.#keys.channel,
      versionKey: this.#keys.version,
      pollMs: options.pollMs ?? 250,
      resyncMs: options.resyncMs ?? 30_000,
      logger: this.#logger,
      what: 'access',
      load: (loaded) => this.#load(loaded),
      loadError: unavailable,
    });
  }

  start(): Promise<void> {
    return this.#follower.start();
  }

  async close(): Promise<void> {
    await this.#follower.close();
  }

  current(): AccessSnapshot {
    return this.#snapshot;
  }

  async createUser(user: User): Promise<void> {
    if ((await this.#script(CREATE_USER, [user.name, encodeUser(user, this.#keyRing)])) === -1) {
      throw conflict(`user ${user.name}`);
    }
  }

  async replaceUser(user: User): Promise<void> {
    if ((await this.#script(REPLACE_USER, [user.name, encodeUser(user, this.#keyRing)])) === -1) {
      throw notFound(`user ${user.name}`);
    }
  }

  async removeUser(name: string): Promise<boolean> {
    return (await this.#script(REMOVE_USER, [name])) !== -1;
  }

  async createToken(token: ApiToken): Promise<void> {
    const result = await this.#script(CREATE_TOKEN, [
      token.id,
      JSON.stringify(token),
      token.user,
      token.kind,
      token.name,
    ]);
    if (result === -1) throw notFound(`user ${token.user}`);
    if (result === -2) throw conflict(`token ${token.id}`);
    if (result === -3) throw conflict(`token ${token.name} of user ${token.user}`);
  }

  async removeToken(id: string): Promise<boolean> {
    return (await this.#script(REMOVE_TOKENS, [id])) !== -1;
  }

  async touchToken(id: string, at: string): Promise<void> {
    const json = this.#tokenJson.get(id);
    const token = this.#snapshot.tokens.get(id);
    if (json === undefined || token === undefined) return;
    await this.#script(TOUCH_TOKEN, [id, json, JSON.stringify({ ...token, lastUsedAt: at })]);
  }

  async removeExpired(now: number): Promise<number> {
    await this.#reload().catch((err: unknown) => {
      throw unavailable(err);
    });
    const expired = [...this.#snapshot.tokens.values()].filter((t) => isExpired(t, now)).map((t) => t.id);
    if (expired.length === 0) return 0;
    await this.#script(REMOVE_TOKENS, expired);
    return expired.length;
  }

  sealedStatus(): SealedStatus {
    return {
      name: 'users',
      ...userStatus([...this.#storedUsers].map(([name, u]) => [name, u.decoded] as const)),
    };
  }

  async reseal(): Promise<ResealResult> {
    const ring = this.#keyRing;
    if (ring === undefined) throw noKeyRing();
    await this.#reload().catch((err: unknown) => {
      throw unavailable(err);
    });
    let resealed = 0;
    let current = 0;
    let skipped = 0;
    for (const [name, { json, decoded }] of this.#storedUsers) {
      if (!decoded.ok) skipped++;
      else if (decoded.keyId === ring.activeKeyId) current++;
      else {
        const fresh = encodeUser(decoded.user, ring);
        const done = await RESEAL_USER.run(
          this.#redis,
          [this.#keys.users, this.#keys.tokens, this.#keys.version],
          [this.#keys.channel, name, json, fresh],
        ).catch((err: unknown) => {
          throw unavailable(err);
        });
        if (Number(done) === -1) skipped++;
        else resealed++;
      }
    }
    if (resealed > 0) await this.#reload().catch(() => undefined);
    return { name: 'users', resealed, current, skipped };
  }

  /** Runs a write script, then reloads so this node reads its own write at once. */
  async #script(script: LuaScript, args: readonly string[]): Promise<number> {
    let result: number;
    try {
      result = Number(
        await script.run(
          this.#redis,
          [this.#keys.users, this.#keys.tokens, this.#keys.version],
          [this.#keys.channel, ...args],
        ),
      );
      if (result >= 0) await this.#reload();
    } catch (err) {
      throw unavailable(err);
    }
    return result;
  }

  #reload(): Promise<void> {
    return this.#follower.reload();
  }

  /** Reads everything into the snapshot; returns the version read (the same one: nothing to do). */
  async #load(loaded: number): Promise<number> {
    const replies =
      (await this.#redis
        .multi()
        .hgetall(this.#keys.users)
        .hgetall(this.#keys.tokens)
        .get(this.#keys.version)
        .exec()) ?? [];
    for (const reply of replies) if (reply[0]) throw reply[0];
    const version = Number(replies[2]?.[1] ?? 0);
    if (version === loaded && loaded >= 0) return loaded;
    const users: User[] = [];
    const storedUsers = new Map<string, { json: string; decoded: DecodedUser }>();
    for (const [name, json] of Object.entries((replies[0]?.[1] ?? {}) as Record<string, string>)) {
      const decoded = decodeUser(json, this.#keyRing);
      storedUsers.set(name, { json, decoded });
      if (decoded.ok) users.push(decoded.user);
      else if (this.#storedUsers.get(name)?.json !== json) {
        // Once per stored value, not once per reload.
        this.#logger.error({ user: name, keyId: decoded.keyId }, `ignoring stored user: ${decoded.reason}`);
      }
    }
    const tokens: ApiToken[] = [];
    const tokenJson = new Map<string, string>();
    for (const [id, json] of Object.entries((replies[1]?.[1] ?? {}) as Record<string, string>)) {
      const token = parseStoredToken(json);
      if (token === undefined) {
        this.#logger.error({ token: id }, 'ignoring an unreadable stored token');
        continue;
      }
      tokens.push(token);
      tokenJson.set(id, json);
    }
    this.#snapshot = accessSnapshot(users, tokens);
    this.#tokenJson = tokenJson;
    this.#storedUsers = storedUsers;
    return version;
  }
}
