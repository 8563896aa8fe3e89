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
// the hot path reads only the snapshot. A Redis that comes back empty does not empty the proxies'
// policies (a WAF that silently stops blocking): they are kept and writes refused until `reseed()`
// (VersionedHash, versioned-hash.ts, shared with the zone store).
import { MeridianError, conflict, notFound } from '../../core/errors.js';
import { parsePolicy } from '../../config/policy-schema.js';
import { silentLogger, type Logger } from '../../infra/logger.js';
import type { RedisConnection } from '../../infra/redis/connection.js';
import { LuaScript } from '../../infra/redis/lua-script.js';
import {
  CREATE_RECORD,
  DELETE_RECORD,
  REPLACE_RECORD,
  VersionedHash,
  hashKeys,
  type HashKeys,
} from './versioned-hash.js';
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

export function policyKeys(prefix: string): HashKeys {
  return hashKeys(prefix, 'policies');
}

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

export class RedisPolicyStore implements PolicyStore {
  readonly #logger: Logger;
  readonly #listeners = new Set<PolicyListener>();
  #policies: readonly Policy[] = freezePolicies([]);
  readonly #hash: VersionedHash<Policy>;

  constructor(options: RedisPolicyStoreOptions) {
    this.#logger = (options.logger ?? silentLogger).child({ component: 'policy-store' });
    this.#hash = new VersionedHash({
      redis: options.redis,
      subscriber: options.subscriber,
      keys: policyKeys(options.keyPrefix ?? 'meridian:'),
      pollMs: options.pollMs ?? 500,
      resyncMs: options.resyncMs ?? 30_000,
      logger: this.#logger,
      what: 'policy',
      parse: parsePolicy,
      loaded: (policies) => {
        this.#policies = freezePolicies(policies);
        notifyAll(this.#listeners, this.#policies, (err) =>
          this.#logger.error({ err }, 'policy change listener failed'),
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

  /** Whether Redis lost the policies this node enforces (they are kept until `reseed()`). */
  dataLost(): boolean {
    return this.#hash.dataLost();
  }

  /** Writes this node's policies back to a Redis that lost them; how many (0 when nothing was lost). */
  async reseed(): Promise<number> {
    const written = await this.#hash.seedIfEmpty(
      this.#policies.map((p) => [p.id, JSON.stringify(p)] as const),
    );
    if (written > 0) this.#logger.warn({ policies: written }, "wrote this node's policies back to Redis");
    return written;
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
    this.#hash.refuseWhileLost();
    const policy = parsePolicy(input);
    const result = await this.#hash.script(CREATE_RECORD, [policy.id, JSON.stringify(policy)]);
    if (result === -1) throw conflict(`policy ${policy.id}`);
    await this.#hash.reload();
    return this.get(policy.id);
  }

  async update(id: string, patch: unknown): Promise<Policy> {
    this.#hash.refuseWhileLost();
    for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
      const base = await this.#hash.read(id);
      const next = applyPatch(parsePolicy(JSON.parse(base)), patch);
      const result = await this.#hash.script(REPLACE_RECORD, [id, base, JSON.stringify(next)]);
      if (result === -1) throw notFound(`policy ${id}`);
      if (result !== -2) {
        await this.#hash.reload();
        return this.get(id);
      }
      // Someone else changed the policy between our read and write: recompute from the new value.
    }
    throw new MeridianError('E_CONFLICT', `policy ${id} is being changed concurrently; try again`);
  }

  async remove(id: string): Promise<void> {
    this.#hash.refuseWhileLost();
    const result = await this.#hash.script(DELETE_RECORD, [id]);
    if (result === -1) throw notFound(`policy ${id}`);
    await this.#hash.reload();
  }

  setEnabled(id: string, enabled: boolean): Promise<Policy> {
    return this.update(id, { enabled });
  }

  async importBatch(entries: readonly unknown[], options: ImportOptions = {}): Promise<ImportResult> {
    this.#hash.refuseWhileLost();
    const batch = validateBatch(entries);
    const args: string[] = [options.replace === true ? '1' : '0'];
    for (const p of batch) args.push(p.id, JSON.stringify(p));
    const reply = (await this.#hash.script(IMPORT, args)) as number[];
    await this.#hash.reload();
    return { created: reply[0] ?? 0, updated: reply[1] ?? 0, removed: reply[2] ?? 0, total: reply[3] ?? 0 };
  }

  async exportAll(): Promise<readonly Policy[]> {
    await this.#hash.reload();
    return this.#policies;
  }
}
