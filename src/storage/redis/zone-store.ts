// The shared zone store on Redis.
//
// Keys (P = the deployment's key prefix; `{meridian}` is the Cluster hash tag the other stores use,
// so these keys share one slot and the scripts below work on Redis Cluster too):
//   P{meridian}:zones           hash    zone name → ZoneConfig JSON
//   P{meridian}:zones:version   string  +1 on every change; its existence marks "has held zones"
//   P{meridian}:zones:changes   pub/sub channel; the message is the new version
//
// Every write is one Lua script (conditional check, change, version bump and PUBLISH together); the
// zone is validated in full before the script runs. A change is compare-and-set on the zone's JSON,
// retried when another node changed it in between, so two nodes' edits both land and the serial
// only moves forward. Nodes follow changes with the shared ChangeFollower (message → reload, version
// poll every `pollMs`, full reload every `resyncMs`), so every node sees a change within a second.
//
// Redis coming back empty (restarted without persistence, flushed) is not a change: the version key
// vanishing under a node that had loaded one means the data is gone, so the node keeps serving the
// zones it has, refuses zone writes, and waits for `reseed()` (run by `meridian state reseed` on the
// node chosen as the source) to write its zones back; it never applies the empty hash.
import { Cluster } from 'ioredis';
import { MeridianError, conflict, describeError, notFound } from '../../core/errors.js';
import { canonicalName } from '../../core/dns-names.js';
import { parseZone } from '../../config/zone-rules.js';
import { silentLogger, type Logger } from '../../infra/logger.js';
import type { RedisConnection } from '../../infra/redis/connection.js';
import { LuaScript } from '../../infra/redis/lua-script.js';
import { ChangeFollower } from './change-follower.js';
import {
  findZone,
  freezeZones,
  notifyZones,
  prepareChange,
  prepareCreate,
  validateSeed,
  type ZoneConfig,
  type ZoneEdit,
  type ZoneListener,
  type ZoneStore,
} from '../zone-store.js';

export interface RedisZoneStoreOptions {
  /** Command connection (not closed by the store). */
  readonly redis: RedisConnection;
  /** Subscriber connection (closed by the store); default `redis.duplicate()`. */
  readonly subscriber?: RedisConnection;
  /** Same prefix as `state.redis.keyPrefix`. */
  readonly keyPrefix?: string;
  readonly pollMs?: number;
  readonly resyncMs?: number;
  readonly logger?: Logger;
  /** Clock for the date-based serials (tests). */
  readonly now?: () => number;
}

export function zoneKeys(prefix: string): { hash: string; version: string; channel: string } {
  const base = `${prefix}{meridian}:zones`;
  return { hash: base, version: `${base}:version`, channel: `${base}:changes` };
}

// KEYS: hash, version. ARGV: channel, then per script.
const CREATE = new LuaScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then return -1 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[1], v)
return v`);

// Compare-and-set: ARGV[3] is the JSON the change was computed from.
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

// ARGV: channel, then name, json pairs. Writes nothing (0) once the version key exists.
const SEED = new LuaScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[1], v)
return (#ARGV - 1) / 2`);

const MAX_CAS_RETRIES = 5;

function duplicate(conn: RedisConnection): RedisConnection {
  return conn instanceof Cluster ? conn.duplicate() : conn.duplicate();
}

function unavailable(err: unknown): MeridianError {
  return new MeridianError('E_UNAVAILABLE', `zone store: Redis unavailable: ${describeError(err)}`, {
    cause: err,
  });
}

export class RedisZoneStore implements ZoneStore {
  readonly #redis: RedisConnection;
  readonly #keys: ReturnType<typeof zoneKeys>;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #listeners = new Set<ZoneListener>();
  #zones: readonly ZoneConfig[] = freezeZones([]);
  readonly #follower: ChangeFollower;
  /** The version key vanished after we had loaded one: Redis lost the zones (see the header). */
  #lost = false;

  constructor(options: RedisZoneStoreOptions) {
    this.#redis = options.redis;
    this.#keys = zoneKeys(options.keyPrefix ?? 'meridian:');
    this.#logger = (options.logger ?? silentLogger).child({ component: 'zone-store' });
    this.#now = options.now ?? Date.now;
    this.#follower = new ChangeFollower({
      redis: this.#redis,
      subscriber: options.subscriber ?? duplicate(options.redis),
      channel: this.#keys.channel,
      versionKey: this.#keys.version,
      pollMs: options.pollMs ?? 500,
      resyncMs: options.resyncMs ?? 30_000,
      logger: this.#logger,
      what: 'zone',
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

  current(): readonly ZoneConfig[] {
    return this.#zones;
  }

  onChange(listener: ZoneListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get(name: string): ZoneConfig {
    return findZone(this.#zones, name);
  }

  /** Whether Redis lost the zones this node serves (they are kept until `reseed()`). */
  dataLost(): boolean {
    return this.#lost;
  }

  /**
   * Writes this node's zones back to a Redis that lost them (nothing when the zone data exists);
   * resolves with how many were written.
   */
  async reseed(): Promise<number> {
    const args: string[] = [];
    for (const z of this.#zones) args.push(z.name, JSON.stringify(z));
    if (args.length === 0) return 0;
    const written = Number(await this.#script(SEED, args));
    if (written > 0) this.#logger.warn({ zones: written }, "wrote this node's zones back to Redis");
    await this.#reload();
    return written;
  }

  #refuseWhileLost(): void {
    if (this.#lost)
      throw new MeridianError(
        'E_UNAVAILABLE',
        'zone store: Redis lost the zone data (restarted empty?); this node keeps serving its last zones and refuses changes until `meridian state reseed` writes them back',
      );
  }

  async create(input: unknown): Promise<ZoneConfig> {
    this.#refuseWhileLost();
    await this.#reload();
    const zone = prepareCreate(input, this.#zones, this.#now());
    const result = await this.#script(CREATE, [zone.name, JSON.stringify(zone)]);
    if (result === -1) throw conflict(`zone ${zone.name}`);
    await this.#reload();
    return this.get(zone.name);
  }

  async change(name: string, edit: ZoneEdit): Promise<ZoneConfig> {
    this.#refuseWhileLost();
    const key = canonicalName(name);
    for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
      const base = await this.#read(key);
      const next = prepareChange(parseZone(JSON.parse(base)), edit, this.#now());
      const result = await this.#script(REPLACE, [key, base, JSON.stringify(next)]);
      if (result === -1) throw notFound(`zone ${key}`);
      if (result !== -2) {
        await this.#reload();
        return this.get(key);
      }
      // Another node changed the zone between our read and write: recompute from its value.
    }
    throw new MeridianError('E_CONFLICT', `zone ${key} is being changed concurrently; try again`);
  }

  async remove(name: string): Promise<void> {
    this.#refuseWhileLost();
    const key = canonicalName(name);
    const result = await this.#script(DELETE, [key]);
    if (result === -1) throw notFound(`zone ${key}`);
    await this.#reload();
  }

  async seed(entries: readonly unknown[]): Promise<number> {
    if (entries.length === 0) return 0;
    const zones = validateSeed(entries, this.#now());
    const args: string[] = [];
    for (const z of zones) args.push(z.name, JSON.stringify(z));
    const written = Number(await this.#script(SEED, args));
    await this.#reload();
    return written;
  }

  async #read(name: string): Promise<string> {
    let raw: unknown;
    try {
      raw = await this.#redis.call('HGET', [this.#keys.hash, name]);
    } catch (err) {
      throw unavailable(err);
    }
    if (typeof raw !== 'string') throw notFound(`zone ${name}`);
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

  /** Reads every zone into the list; returns the version read (the same one: nothing to do). */
  async #load(loaded: number): Promise<number> {
    const replies = (await this.#redis.multi().hgetall(this.#keys.hash).get(this.#keys.version).exec()) ?? [];
    const [hashReply, versionReply] = replies;
    if (hashReply?.[0]) throw hashReply[0];
    if (versionReply?.[0]) throw versionReply[0];
    const raw = (hashReply?.[1] ?? {}) as Record<string, string>;
    if (versionReply?.[1] === null && loaded > 0) {
      if (!this.#lost)
        this.#logger.error(
          { version: loaded, zones: this.#zones.length },
          'the zone data in Redis is gone (restarted empty or flushed?): serving the last zones and refusing zone changes until `meridian state reseed`',
        );
      this.#lost = true;
      return loaded;
    }
    const version = Number(versionReply?.[1] ?? 0);
    if (this.#lost) {
      this.#lost = false;
      this.#logger.warn({ version }, 'zone data is back in Redis: following it again');
    } else if (version === loaded && loaded >= 0) return loaded;
    const zones: ZoneConfig[] = [];
    for (const [name, json] of Object.entries(raw)) {
      try {
        zones.push(parseZone(JSON.parse(json)));
      } catch (err) {
        this.#logger.error({ zone: name, err: describeError(err) }, 'ignoring an invalid stored zone');
      }
    }
    this.#zones = freezeZones(zones);
    notifyZones(this.#listeners, this.#zones, (err) =>
      this.#logger.error({ err }, 'zone change listener failed'),
    );
    return version;
  }
}
