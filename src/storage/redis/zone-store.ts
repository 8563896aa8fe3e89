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
// Following, failures and a Redis that comes back empty (the zones are kept and writes refused
// until `reseed()`) are VersionedHash's (versioned-hash.ts), shared with the policy store.
import { MeridianError, conflict, notFound } from '../../core/errors.js';
import { canonicalName } from '../../core/dns-names.js';
import { parseZone } from '../../config/zone-rules.js';
import { silentLogger, type Logger } from '../../infra/logger.js';
import type { RedisConnection } from '../../infra/redis/connection.js';
import {
  CREATE_RECORD,
  DELETE_RECORD,
  REPLACE_RECORD,
  VersionedHash,
  hashKeys,
  type HashKeys,
} from './versioned-hash.js';
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

export function zoneKeys(prefix: string): HashKeys {
  return hashKeys(prefix, 'zones');
}

const MAX_CAS_RETRIES = 5;

export class RedisZoneStore implements ZoneStore {
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #listeners = new Set<ZoneListener>();
  #zones: readonly ZoneConfig[] = freezeZones([]);
  readonly #hash: VersionedHash<ZoneConfig>;

  constructor(options: RedisZoneStoreOptions) {
    this.#logger = (options.logger ?? silentLogger).child({ component: 'zone-store' });
    this.#now = options.now ?? Date.now;
    this.#hash = new VersionedHash({
      redis: options.redis,
      subscriber: options.subscriber,
      keys: zoneKeys(options.keyPrefix ?? 'meridian:'),
      pollMs: options.pollMs ?? 500,
      resyncMs: options.resyncMs ?? 30_000,
      logger: this.#logger,
      what: 'zone',
      parse: parseZone,
      loaded: (zones) => {
        this.#zones = freezeZones(zones);
        notifyZones(this.#listeners, this.#zones, (err) =>
          this.#logger.error({ err }, 'zone change listener failed'),
        );
      },
    });
  }

  start(): Promise<void> {
    return this.#hash.start();
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    await this.#hash.close();
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
    return this.#hash.dataLost();
  }

  /** Writes this node's zones back to a Redis that lost them; how many (0 when nothing was lost). */
  async reseed(): Promise<number> {
    const written = await this.#hash.seedIfEmpty(
      this.#zones.map((z) => [z.name, JSON.stringify(z)] as const),
    );
    if (written > 0) this.#logger.warn({ zones: written }, "wrote this node's zones back to Redis");
    return written;
  }

  async create(input: unknown): Promise<ZoneConfig> {
    this.#hash.refuseWhileLost();
    await this.#hash.reload();
    const zone = prepareCreate(input, this.#zones, this.#now());
    const result = await this.#hash.script(CREATE_RECORD, [zone.name, JSON.stringify(zone)]);
    if (result === -1) throw conflict(`zone ${zone.name}`);
    await this.#hash.reload();
    return this.get(zone.name);
  }

  async change(name: string, edit: ZoneEdit): Promise<ZoneConfig> {
    this.#hash.refuseWhileLost();
    const key = canonicalName(name);
    for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
      const base = await this.#hash.read(key);
      const next = prepareChange(parseZone(JSON.parse(base)), edit, this.#now());
      const result = await this.#hash.script(REPLACE_RECORD, [key, base, JSON.stringify(next)]);
      if (result === -1) throw notFound(`zone ${key}`);
      if (result !== -2) {
        await this.#hash.reload();
        return this.get(key);
      }
      // Another node changed the zone between our read and write: recompute from its value.
    }
    throw new MeridianError('E_CONFLICT', `zone ${key} is being changed concurrently; try again`);
  }

  async remove(name: string): Promise<void> {
    this.#hash.refuseWhileLost();
    const key = canonicalName(name);
    const result = await this.#hash.script(DELETE_RECORD, [key]);
    if (result === -1) throw notFound(`zone ${key}`);
    await this.#hash.reload();
  }

  async seed(entries: readonly unknown[]): Promise<number> {
    if (entries.length === 0) return 0;
    const zones = validateSeed(entries, this.#now());
    return this.#hash.seedIfEmpty(zones.map((z) => [z.name, JSON.stringify(z)] as const));
  }
}
