// The shared policy store on Redis.
//
// Keys (P = the deployment's key prefix; `{meridian}` is the Cluster hash tag the state store uses,
// so these keys share one slot and the multi-key scripts below work on Redis Cluster too):
//   P{meridian}:policies           hash    policyId → Policy JSON
//   P{meridian}:policies:version   string  +1 on every change
//   P{meridian}:policies:changes   pub/sub channel; the message is the new version
//
// Every write is one Lua script (conditional check, change, version bump and PUBLISH together), and
// the payload is validated in full before the script runs, so an import is all or nothing. Nodes
// keep an in-memory snapshot: a change message triggers a reload (HGETALL + version in one MULTI);
// a cheap version poll every `pollMs` (default 500 ms) catches messages lost across reconnects, and
// a full reload runs every `resyncMs`. So every proxy sees a change within about a second, while
// the hot path reads only the snapshot.
import { Cluster } from 'ioredis';
import { MeridianError, conflict, describeError, notFound } from '../../core/errors.js';
import { parsePolicy } from '../../config/policy-schema.js';
import { silentLogger, type Logger } from '../../infra/logger.js';
import type { RedisConnection } from '../../infra/redis/connection.js';
import { LuaScript } from '../../infra/redis/lua-script.js';
import { ChangeFollower } from './change-follower.js';
import {
  applyPatch,
  filterPolicies,
  findPolicy,
  freezePolicies,
  notifyAll,
  validateBatch,
  type ImportOptions,
  type ImportResult,
  type Policy,
  type PolicyFilter,
  type PolicyListener,
  type PolicyStore,
} from '../policy-store.js';

export interface RedisPolicyStoreOptions {
  /** Command connection (not closed by the store). Best created with `enableOfflineQueue: false`. */
  readonly redis: RedisConnection;
  /** Subscriber connection (closed by the store); default `redis.duplicate()`. */
  readonly subscriber?: RedisConnection;
  /** Same prefix as `state.redis.keyPrefix`. */
  readonly keyPrefix?: string;
  readonly pollMs?: number;
  readonly resyncMs?: number;
  readonly logger?: Logger;
}

export function policyKeys(prefix: string): { hash: string; version: string; channel: string } {
  const base = `${prefix}{meridian}:policies`;
  return { hash: base, version: `${base}:version`, channel: `${base}:changes` };
}

// KEYS: hash, version. ARGV: channel, then per script.
const CREATE = new LuaScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then return -1 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[1], v)
return v`);

// Compare-and-set: ARGV[3] is the JSON the update was computed from.
const REPLACE = new LuaScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[2])
if not cur then return -1 end
if cur ~= ARGV[3] then return -2 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[4])
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[1], v)
return v`);

const DELETE = new LuaScript(`
if redis.call('HDEL', KEYS[1], ARGV[2]) == 0 then return -1 end
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[1], v)
return v`);

// ARGV: channel, replace ('1'/'0'), then id, json pairs. Returns {created, updated, removed, total}.
const IMPORT = new LuaScript(`
local created, updated, removed = 0, 0, 0
local incoming = {}
for i = 3, #ARGV, 2 do incoming[ARGV[i]] = true end
if ARGV[2] == '1' then
  local ids = redis.call('HKEYS', KEYS[1])
  for _, id in ipairs(ids) do
    if not incoming[id] then redis.call('HDEL', KEYS[1], id); removed = removed + 1 end
  end
end
for i = 3, #ARGV, 2 do
  if redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then created = created + 1 else updated = updated + 1 end
end
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[1], v)
return {created, updated, removed, redis.call('HLEN', KEYS[1])}`);

const MAX_CAS_RETRIES = 5;

function duplicate(conn: RedisConnection): RedisConnection {
  return conn instanceof Cluster ? conn.duplicate() : conn.duplicate();
}

function unavailable(err: unknown): MeridianError {
  return new MeridianError('E_UNAVAILABLE', `policy store: Redis unavailable: ${describeError(err)}`, {
    cause: err,
  });
}

export class RedisPolicyStore implements PolicyStore {
  readonly #redis: RedisConnection;
  readonly #keys: ReturnType<typeof policyKeys>;
  readonly #logger: Logger;
  readonly #listeners = new Set<PolicyListener>();
  #policies: readonly Policy[] = freezePolicies([]);
  readonly #follower: ChangeFollower;

  constructor(options: RedisPolicyStoreOptions) {
    this.#redis = options.redis;
    this.#keys = policyKeys(options.keyPrefix ?? 'meridian:');
    this.#logger = (options.logger ?? silentLogger).child({ component: 'policy-store' });
    this.#follower = new ChangeFollower({
      redis: this.#redis,
      subscriber: options.subscriber ?? duplicate(options.redis),
      channel: this.#keys.channel,
      versionKey: this.#keys.version,
      pollMs: options.pollMs ?? 500,
      resyncMs: options.resyncMs ?? 30_000,
      logger: this.#logger,
      what: 'policy',
      load: (loaded) => this.#load(loaded),
      loadError: unavailable,
    });
  }

  start(): Promise<void> {
    return this.#follower.start();
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    await this.#follower.close();
  }

  current(): readonly Policy[] {
    return this.#policies;
  }

  onChange(listener: PolicyListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  list(filter?: PolicyFilter): readonly Policy[] {
    return filterPolicies(this.#policies, filter);
  }

  get(id: string): Policy {
    return findPolicy(this.#policies, id);
  }

  async put(input: unknown): Promise<Policy> {
    const policy = parsePolicy(input);
    const result = await this.#script(CREATE, [policy.id, JSON.stringify(policy)]);
    if (result === -1) throw conflict(`policy ${policy.id}`);
    await this.#reload();
    return this.get(policy.id);
  }

  async update(id: string, patch: unknown): Promise<Policy> {
    for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
      const base = await this.#read(id);
      const next = applyPatch(parsePolicy(JSON.parse(base)), patch);
      const result = await this.#script(REPLACE, [id, base, JSON.stringify(next)]);
      if (result === -1) throw notFound(`policy ${id}`);
      if (result !== -2) {
        await this.#reload();
        return this.get(id);
      }
      // Someone else changed the policy between our read and write: recompute from the new value.
    }
    throw new MeridianError('E_CONFLICT', `policy ${id} is being changed concurrently; try again`);
  }

  async remove(id: string): Promise<void> {
    const result = await this.#script(DELETE, [id]);
    if (result === -1) throw notFound(`policy ${id}`);
    await this.#reload();
  }

  setEnabled(id: string, enabled: boolean): Promise<Policy> {
    return this.update(id, { enabled });
  }

  async importBatch(entries: readonly unknown[], options: ImportOptions = {}): Promise<ImportResult> {
    const batch = validateBatch(entries);
    const args: string[] = [options.replace === true ? '1' : '0'];
    for (const p of batch) args.push(p.id, JSON.stringify(p));
    const reply = (await this.#script(IMPORT, args)) as number[];
    await this.#reload();
    return { created: reply[0] ?? 0, updated: reply[1] ?? 0, removed: reply[2] ?? 0, total: reply[3] ?? 0 };
  }

  async exportAll(): Promise<readonly Policy[]> {
    await this.#reload();
    return this.#policies;
  }

  async #read(id: string): Promise<string> {
    let raw: unknown;
    try {
      raw = await this.#redis.call('HGET', [this.#keys.hash, id]);
    } catch (err) {
      throw unavailable(err);
    }
    if (typeof raw !== 'string') throw notFound(`policy ${id}`);
    return raw;
  }

  async #script(script: LuaScript, args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await script.run(
        this.#redis,
        [this.#keys.hash, this.#keys.version],
        [this.#keys.channel, ...args],
      );
    } catch (err) {
      throw unavailable(err);
    }
  }

  #reload(): Promise<void> {
    return this.#follower.reload();
  }

  /** Reads everything into the snapshot; returns the version read (the same one: nothing to do). */
  async #load(loaded: number): Promise<number> {
    const replies = (await this.#redis.multi().hgetall(this.#keys.hash).get(this.#keys.version).exec()) ?? [];
    const [hashReply, versionReply] = replies;
    if (hashReply?.[0]) throw hashReply[0];
    if (versionReply?.[0]) throw versionReply[0];
    const raw = (hashReply?.[1] ?? {}) as Record<string, string>;
    const version = Number(versionReply?.[1] ?? 0);
    if (version === loaded && loaded >= 0) return loaded;
    const policies: Policy[] = [];
    for (const [id, json] of Object.entries(raw)) {
      try {
        policies.push(parsePolicy(JSON.parse(json)));
      } catch (err) {
        this.#logger.error({ id, err: describeError(err) }, 'ignoring an invalid stored policy');
      }
    }
    this.#policies = freezePolicies(policies);
    notifyAll(this.#listeners, this.#policies, (err) =>
      this.#logger.error({ err }, 'policy change listener failed'),
    );
    return version;
  }
}
