// A shared set of JSON records on Redis that every node follows in memory: one hash (id → JSON), a
// version counter bumped by every write script, and a change channel carrying the new version. The
// policy and zone stores are built on it; it owns what they share:
//   - following changes (ChangeFollower: message → reload, version poll, periodic full reload);
//   - reads and scripts with Redis failures turned into E_UNAVAILABLE naming the store;
//   - **lost data**: the version key vanishing under a node that had loaded one means Redis came
//     back empty (restarted without persistence, flushed), not that every record was removed (a
//     removal bumps the version). The node then keeps serving the records it has, refuses writes,
//     and waits for `reseed()` — run by `meridian state reseed` on the node chosen as the source —
//     to write its records back. It never applies the empty hash.
import { Cluster } from 'ioredis';
import { MeridianError, describeError, notFound } from '../../core/errors.js';
import type { Logger } from '../../infra/logger.js';
import type { RedisConnection } from '../../infra/redis/connection.js';
import { LuaScript } from '../../infra/redis/lua-script.js';
import { ChangeFollower } from './change-follower.js';

export interface HashKeys {
  readonly hash: string;
  readonly version: string;
  readonly channel: string;
}

/** `P{meridian}:<name>`, its `:version` and `:changes` (one Cluster slot with the state store). */
export function hashKeys(prefix: string, name: string): HashKeys {
  const base = `${prefix}{meridian}:${name}`;
  return { hash: base, version: `${base}:version`, channel: `${base}:changes` };
}

// KEYS: hash, version. ARGV: channel, then id, json pairs. Writes nothing (0) once the version key
// exists: a first seed, or writing a node's records back after Redis lost them.
export const SEED_IF_EMPTY = new LuaScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[1], v)
return (#ARGV - 1) / 2`);

// The record writes every versioned hash shares. KEYS: hash, version. ARGV: channel, id, ….
/** Creates the record; -1 when the id exists. */
export const CREATE_RECORD = new LuaScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then return -1 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[1], v)
return v`);

/** Compare-and-set: ARGV[3] is the JSON the change was computed from; -1 gone, -2 changed meanwhile. */
export const REPLACE_RECORD = new LuaScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[2])
if not cur then return -1 end
if cur ~= ARGV[3] then return -2 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[4])
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[1], v)
return v`);

/** Removes the record; -1 when it does not exist. */
export const DELETE_RECORD = new LuaScript(`
if redis.call('HDEL', KEYS[1], ARGV[2]) == 0 then return -1 end
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[1], v)
return v`);

export interface VersionedHashOptions<T> {
  readonly redis: RedisConnection;
  /** Subscriber connection (closed with the hash); default `redis.duplicate()`. */
  readonly subscriber?: RedisConnection | undefined;
  readonly keys: HashKeys;
  readonly pollMs: number;
  readonly resyncMs: number;
  readonly logger: Logger;
  /** The record's noun in messages: `policy`, `zone`. */
  readonly what: string;
  /** Validates one stored record (a bad one is logged and skipped). */
  readonly parse: (value: unknown) => T;
  /** Every record, after each load that saw a new version. */
  readonly loaded: (records: T[]) => void;
}

export class VersionedHash<T> {
  readonly #o: VersionedHashOptions<T>;
  readonly #follower: ChangeFollower;
  #lost = false;

  constructor(options: VersionedHashOptions<T>) {
    this.#o = options;
    const redis = options.redis;
    this.#follower = new ChangeFollower({
      redis,
      subscriber: options.subscriber ?? (redis instanceof Cluster ? redis.duplicate() : redis.duplicate()),
      channel: options.keys.channel,
      versionKey: options.keys.version,
      pollMs: options.pollMs,
      resyncMs: options.resyncMs,
      logger: options.logger,
      what: options.what,
      load: (loaded) => this.#load(loaded),
      loadError: (err) => this.unavailable(err),
    });
  }

  start(): Promise<void> {
    return this.#follower.start();
  }

  close(): Promise<void> {
    return this.#follower.close();
  }

  /** Reloads now (sharing a reload in progress); writers await it after their own writes. */
  reload(): Promise<void> {
    return this.#follower.reload();
  }

  unavailable(err: unknown): MeridianError {
    return new MeridianError(
      'E_UNAVAILABLE',
      `${this.#o.what} store: Redis unavailable: ${describeError(err)}`,
      {
        cause: err,
      },
    );
  }

  /** Whether Redis lost the records this node keeps serving (until `reseed()`). */
  dataLost(): boolean {
    return this.#lost;
  }

  /** Writers call it first: no write may land in a store that lost the fleet's records. */
  refuseWhileLost(): void {
    if (this.#lost)
      throw new MeridianError(
        'E_UNAVAILABLE',
        `${this.#o.what} store: Redis lost the ${this.#o.what} data (restarted empty?); this node keeps serving its last copy and refuses changes until \`meridian state reseed\` writes it back`,
      );
  }

  /** One record's stored JSON; E_NOT_FOUND naming it. */
  async read(id: string): Promise<string> {
    let raw: unknown;
    try {
      raw = await this.#o.redis.call('HGET', [this.#o.keys.hash, id]);
    } catch (err) {
      throw this.unavailable(err);
    }
    if (typeof raw !== 'string') throw notFound(`${this.#o.what} ${id}`);
    return raw;
  }

  /** Runs a write script with KEYS hash, version and ARGV channel, ...args. */
  async script(script: LuaScript, args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await script.run(
        this.#o.redis,
        [this.#o.keys.hash, this.#o.keys.version],
        [this.#o.keys.channel, ...args],
      );
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  /**
   * Writes `records` (id, JSON) when the store holds no version yet — a first seed, or this node's
   * copy after a loss; resolves with how many were written (0: the store already has data).
   */
  async seedIfEmpty(records: readonly (readonly [string, string])[]): Promise<number> {
    if (records.length === 0) return 0;
    const written = Number(await this.script(SEED_IF_EMPTY, records.flat()));
    await this.reload();
    return written;
  }

  /** Reads every record; returns the version read (the same one: nothing to do). */
  async #load(loaded: number): Promise<number> {
    const { redis, keys, logger, what } = this.#o;
    const replies = (await redis.multi().hgetall(keys.hash).get(keys.version).exec()) ?? [];
    const [hashReply, versionReply] = replies;
    if (hashReply?.[0]) throw hashReply[0];
    if (versionReply?.[0]) throw versionReply[0];
    if (versionReply?.[1] === null && loaded > 0) {
      if (!this.#lost)
        logger.error(
          { version: loaded },
          `the ${what} data in Redis is gone (restarted empty or flushed?): serving the last copy and refusing changes until \`meridian state reseed\``,
        );
      this.#lost = true;
      return loaded;
    }
    const version = Number(versionReply?.[1] ?? 0);
    if (this.#lost) {
      this.#lost = false;
      logger.warn({ version }, `${what} data is back in Redis: following it again`);
    } else if (version === loaded && loaded >= 0) return loaded;
    const raw = (hashReply?.[1] ?? {}) as Record<string, string>;
    const records: T[] = [];
    for (const [id, json] of Object.entries(raw)) {
      try {
        records.push(this.#o.parse(JSON.parse(json)));
      } catch (err) {
        logger.error({ id, err: describeError(err) }, `ignoring an invalid stored ${what}`);
      }
    }
    this.#o.loaded(records);
    return version;
  }
}
