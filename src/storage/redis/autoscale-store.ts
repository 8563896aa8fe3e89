// The shared AutoscaleStore on Redis. Keys, in the same hash slot as the other ops keys:
//   <prefix>{ops}:autoscale:lease    string  {"owner","fence"}, SET PX: the decider lease
//   <prefix>{ops}:autoscale:fence    counter INCR'd for every new lease holder (fencing numbers)
//   <prefix>{ops}:autoscale:records  hash    region → AutoscaleRecord JSON
// Taking, renewing and checking the lease happen inside Lua scripts, so two nodes never both see
// themselves as holder, and a record write is refused unless the lease holds the record's fence.
import { whenReady, type RedisConnection } from '../../infra/redis/connection.js';
import type { AutoscaleRecord, AutoscaleStore } from '../autoscale-store.js';
import { parseStoredJson } from '../task-store.js';
import { opsKey, unavailable } from './ops-record-store.js';

// KEYS: lease, fence counter. ARGV: owner, ttl ms. Returns the fence, or -1 when held by another.
const LEASE_SCRIPT = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, c = pcall(cjson.decode, cur)
  if ok and type(c) == 'table' and c.owner ~= ARGV[1] then return -1 end
  if ok and type(c) == 'table' and tonumber(c.fence) then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(c.fence)
  end
end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], cjson.encode({owner = ARGV[1], fence = fence}), 'PX', ARGV[2])
return fence
`;

// KEYS: lease. ARGV: owner.
const RELEASE_SCRIPT = `
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local ok, c = pcall(cjson.decode, cur)
if ok and type(c) == 'table' and c.owner == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

// KEYS: lease, records. ARGV: fence, region, record JSON. Returns 1 when written.
const SAVE_SCRIPT = `
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local ok, c = pcall(cjson.decode, cur)
if not ok or type(c) ~= 'table' or tostring(c.fence) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
`;

export class RedisAutoscaleStore implements AutoscaleStore {
  readonly kind = 'redis' as const;
  private readonly client: RedisConnection;
  private readonly prefix: string;

  constructor(options: { readonly client: RedisConnection; readonly keyPrefix?: string }) {
    this.client = options.client;
    this.prefix = options.keyPrefix ?? 'meridian:';
  }

  private key(name: string): string {
    return opsKey(this.prefix, `autoscale:${name}`);
  }

  start(): Promise<void> {
    return whenReady(this.client, 'autoscale store');
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private async run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw unavailable(what, err);
    }
  }

  async lease(owner: string, ttlMs: number): Promise<number | undefined> {
    const reply = await this.run('cannot take the autoscale lease', () =>
      this.client.eval(
        LEASE_SCRIPT,
        2,
        this.key('lease'),
        this.key('fence'),
        owner,
        String(Math.max(1, Math.floor(ttlMs))),
      ),
    );
    const fence = Number(reply);
    return fence > 0 ? fence : undefined;
  }

  async release(owner: string): Promise<void> {
    await this.run('cannot release the autoscale lease', () =>
      this.client.eval(RELEASE_SCRIPT, 1, this.key('lease'), owner),
    );
  }

  async records(): Promise<Map<string, AutoscaleRecord>> {
    const all = await this.run('cannot read autoscale records', () =>
      this.client.hgetall(this.key('records')),
    );
    const out = new Map<string, AutoscaleRecord>();
    for (const [region, text] of Object.entries(all)) {
      const record = parseStoredJson<AutoscaleRecord>(text);
      if (record !== undefined) out.set(region, record);
    }
    return out;
  }

  async save(record: AutoscaleRecord): Promise<boolean> {
    const reply = await this.run('cannot record the autoscale decision', () =>
      this.client.eval(
        SAVE_SCRIPT,
        2,
        this.key('lease'),
        this.key('records'),
        String(record.fence),
        record.region,
        JSON.stringify(record),
      ),
    );
    return Number(reply) === 1;
  }
}
