// The shared NodeRegistry on Redis: one hash, node id → entry JSON, at `<prefix>{ops}:nodes`.
// Announcements run as one Lua script that reads Redis's own clock (TIME), so heartbeats and the
// up/lost verdict never depend on the nodes' clocks agreeing, checks the id is not alive under
// another instance, forgets long-lost entries and writes the entry, atomically.
import { MeridianError, isMeridianError } from '../../core/errors.js';
import { whenReady, type RedisConnection } from '../../infra/redis/connection.js';
import {
  checkAnnounceOptions,
  duplicateNode,
  parseNodeEntry,
  validateNodeRecord,
  type AnnounceOptions,
  type NodeEntry,
  type NodeListing,
  type NodeRecord,
  type NodeRegistry,
} from '../node-registry.js';
import { opsKey, unavailable } from './ops-record-store.js';

const NOW_MS = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

// KEYS[1] = nodes hash; ARGV = id, instance, record JSON, ttl ms, forget-after ms.
// Returns {'conflict', existing entry JSON, now} or {'ok', new entry JSON}.
const ANNOUNCE_SCRIPT = `${NOW_MS}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local ok, e = pcall(cjson.decode, all[i + 1])
  if (not ok) or type(e) ~= 'table' or tonumber(e.expiresAt) == nil
     or tonumber(e.expiresAt) + tonumber(ARGV[5]) <= now then
    redis.call('HDEL', KEYS[1], all[i])
  end
end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local ok, e = pcall(cjson.decode, cur)
  if ok and type(e) == 'table' and e.instance ~= ARGV[2] and tonumber(e.expiresAt) > now then
    return {'conflict', cur, string.format('%d', now)}
  end
end
local entry = string.sub(ARGV[3], 1, -2) .. ',"lastSeen":' .. string.format('%d', now) ..
  ',"expiresAt":' .. string.format('%d', now + tonumber(ARGV[4])) .. '}'
redis.call('HSET', KEYS[1], ARGV[1], entry)
return {'ok', entry}
`;

// KEYS[1] = nodes hash; ARGV = id, instance. Deletes only this instance's entry.
const DEREGISTER_SCRIPT = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
local ok, e = pcall(cjson.decode, cur)
if ok and type(e) == 'table' and e.instance ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`;

const LIST_SCRIPT = `${NOW_MS}
return {string.format('%d', now), redis.call('HGETALL', KEYS[1])}
`;

function isStringList(x: unknown): x is string[] {
  return Array.isArray(x) && x.every((s) => typeof s === 'string');
}

export class RedisNodeRegistry implements NodeRegistry {
  readonly kind = 'redis' as const;
  private readonly client: RedisConnection;
  private readonly key: string;

  constructor(options: { readonly client: RedisConnection; readonly keyPrefix?: string }) {
    this.client = options.client;
    this.key = opsKey(options.keyPrefix ?? 'meridian:', 'nodes');
  }

  /** Resolves once the connection is up; a wrong password fails at once, naming this store. */
  start(): Promise<void> {
    return whenReady(this.client, 'node registry');
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  async announce(record: NodeRecord, options: AnnounceOptions): Promise<NodeEntry> {
    const valid = validateNodeRecord(record);
    checkAnnounceOptions(options);
    let reply: unknown;
    try {
      reply = await this.client.eval(
        ANNOUNCE_SCRIPT,
        1,
        this.key,
        valid.id,
        valid.instance,
        JSON.stringify(valid),
        String(Math.ceil(options.ttlMs)),
        String(Math.ceil(options.forgetAfterMs)),
      );
    } catch (err) {
      throw unavailable('node registry: cannot announce this node', err);
    }
    if (!isStringList(reply)) throw new MeridianError('E_INTERNAL', 'node registry: unexpected reply');
    const entry = parseNodeEntry(reply[1] ?? '');
    if (reply[0] === 'conflict' && entry !== undefined) throw duplicateNode(entry, Number(reply[2]));
    if (reply[0] !== 'ok' || entry === undefined)
      throw new MeridianError('E_INTERNAL', 'node registry: unexpected reply');
    return entry;
  }

  async deregister(id: string, instance: string): Promise<boolean> {
    try {
      return Number(await this.client.eval(DEREGISTER_SCRIPT, 1, this.key, id, instance)) === 1;
    } catch (err) {
      throw unavailable('node registry: cannot deregister this node', err);
    }
  }

  async list(): Promise<NodeListing> {
    let reply: unknown;
    try {
      reply = await this.client.eval(LIST_SCRIPT, 1, this.key);
    } catch (err) {
      throw isMeridianError(err) ? err : unavailable('node registry: cannot list nodes', err);
    }
    const [now, fields] = Array.isArray(reply) ? (reply as unknown[]) : [];
    if (typeof now !== 'string' || !isStringList(fields))
      throw new MeridianError('E_INTERNAL', 'node registry: unexpected reply');
    const nodes: NodeEntry[] = [];
    for (let i = 1; i < fields.length; i += 2) {
      const entry = parseNodeEntry(fields[i] ?? '');
      if (entry !== undefined) nodes.push(entry);
    }
    nodes.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { now: Number(now), nodes };
  }
}
