// The state store's Lua write scripts and how they are run. Every write is one script: the
// conditional checks (exists / not exists / compare-and-set for updates), the change, the revision
// bump, the audit entry (`XADD *`, when the write was given a WriteContext) and the PUBLISH happen
// atomically, and the script returns the region's whole state (region, backends, health, revision),
// which the writing node applies to its snapshot before the write resolves.
import { createHash } from 'node:crypto';
import { describeError } from '../../core/errors.js';
import type { Snapshot } from '../../core/types.js';
import type { Connection } from './state-connection.js';

// Region scripts: KEYS = regions, rev, backends:<id>, health:<id>, epoch, audit.
// ARGV = regionId, channel, message, `<epoch candidate>|<epoch expected>`, then the script's own
// arguments, and last the audit entry JSON ('' = not audited), which finish() appends to the audit
// stream. A write whose expected epoch is not the stored one changes nothing ('epoch-changed'): the
// store lost its data or was reseeded, and the writer must reload first.

const PRELUDE = `
local rid = ARGV[1]
local function epoch()
  return redis.call('GET', KEYS[5]) or ''
end
local candidate, expected = string.match(ARGV[4] or '', '^([^|]*)|?(.*)$')
if expected ~= '' and epoch() ~= expected then return {'epoch-changed'} end
local function state(status)
  return {status, epoch(), tonumber(redis.call('HGET', KEYS[2], rid) or '0'),
    redis.call('HGET', KEYS[1], rid), redis.call('HGETALL', KEYS[3]), redis.call('HGETALL', KEYS[4])}
end
local function finish()
  redis.call('SET', KEYS[5], candidate, 'NX')
  redis.call('HINCRBY', KEYS[2], rid, 1)
  local audit = ARGV[#ARGV]
  if audit ~= '' then redis.call('XADD', KEYS[6], '*', 'd', audit) end
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return state('ok')
end
local function region_exists()
  return redis.call('HEXISTS', KEYS[1], rid) == 1
end
`;

export class Script {
  readonly sha: string;
  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }
}

export const READ_REGION = new Script(`${PRELUDE}
return state('ok')`);

export const CREATE_REGION = new Script(`${PRELUDE}
if region_exists() then return {'conflict'} end
redis.call('DEL', KEYS[3], KEYS[4])
redis.call('HSET', KEYS[1], rid, ARGV[5])
return finish()`);

export const UPDATE_REGION = new Script(`${PRELUDE}
local cur = redis.call('HGET', KEYS[1], rid)
if not cur then return {'region-not-found'} end
if cur ~= ARGV[5] then return {'retry'} end
redis.call('HSET', KEYS[1], rid, ARGV[6])
return finish()`);

// ARGV[5] the region JSON the caller read ('' = remove whatever is there).
export const REMOVE_REGION = new Script(`${PRELUDE}
local cur = redis.call('HGET', KEYS[1], rid)
if not cur then return {'region-not-found'} end
if ARGV[5] ~= '' and cur ~= ARGV[5] then return {'retry'} end
redis.call('HDEL', KEYS[1], rid)
redis.call('DEL', KEYS[3], KEYS[4])
return finish()`);

export const CREATE_BACKEND = new Script(`${PRELUDE}
if not region_exists() then return {'region-not-found'} end
if redis.call('HSETNX', KEYS[3], ARGV[5], ARGV[6]) == 0 then return {'conflict'} end
return finish()`);

export const UPDATE_BACKEND = new Script(`${PRELUDE}
if not region_exists() then return {'region-not-found'} end
local cur = redis.call('HGET', KEYS[3], ARGV[5])
if not cur then return {'backend-not-found'} end
if cur ~= ARGV[6] then return {'retry'} end
redis.call('HSET', KEYS[3], ARGV[5], ARGV[7])
return finish()`);

// ARGV[5] backend id, ARGV[6] the backend JSON the caller read ('' = remove whatever is there).
export const REMOVE_BACKEND = new Script(`${PRELUDE}
if not region_exists() then return {'region-not-found'} end
local cur = redis.call('HGET', KEYS[3], ARGV[5])
if not cur then return {'backend-not-found'} end
if ARGV[6] ~= '' and cur ~= ARGV[6] then return {'retry'} end
redis.call('HDEL', KEYS[3], ARGV[5])
return finish()`);

// ARGV[5] reporter, ARGV[6] report JSON, ARGV[7] prune cutoff (ms epoch).
export const REPORT_HEALTH = new Script(`${PRELUDE}
if not region_exists() then return {'region-not-found'} end
redis.call('HSET', KEYS[4], ARGV[5], ARGV[6])
local cutoff = tonumber(ARGV[7])
local all = redis.call('HGETALL', KEYS[4])
for i = 1, #all, 2 do
  local ok, r = pcall(cjson.decode, all[i + 1])
  if not ok or type(r) ~= 'table' or type(r.reportedAt) ~= 'number' or r.reportedAt < cutoff then
    redis.call('HDEL', KEYS[4], all[i])
  end
end
return finish()`);

// KEYS = regions, rev, epoch, lineage; ARGV = backends key base, health key base.
// Reads keys derived from the regions hash: they share the hash tag, hence the slot, on Cluster.
export const READ_ALL = new Script(`
local out = {}
local regions = redis.call('HGETALL', KEYS[1])
for i = 1, #regions, 2 do
  local id = regions[i]
  out[#out + 1] = {id, tonumber(redis.call('HGET', KEYS[2], id) or '0'), regions[i + 1],
    redis.call('HGETALL', ARGV[1] .. id), redis.call('HGETALL', ARGV[2] .. id)}
end
return {redis.call('GET', KEYS[3]) or '', redis.call('HGETALL', KEYS[2]), out,
  redis.call('SMEMBERS', KEYS[4])}`);

// Replaces everything with one node's snapshot under a new epoch (after Redis lost its data).
// KEYS = regions, rev, epoch, lineage; ARGV = backends key base, health key base, new epoch,
// channel, message, snapshot JSON [{id, region, backends: [[id, json]], health: [[reporter, json]]}],
// then the epochs the new one continues (added to the lineage).
export const RESEED = new Script(`
for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do
  redis.call('DEL', ARGV[1] .. id, ARGV[2] .. id)
end
redis.call('DEL', KEYS[1], KEYS[2])
for _, r in ipairs(cjson.decode(ARGV[6])) do
  redis.call('HSET', KEYS[1], r.id, r.region)
  for _, b in ipairs(r.backends) do redis.call('HSET', ARGV[1] .. r.id, b[1], b[2]) end
  for _, h in ipairs(r.health) do redis.call('HSET', ARGV[2] .. r.id, h[1], h[2]) end
  redis.call('HSET', KEYS[2], r.id, 1)
end
redis.call('SET', KEYS[3], ARGV[3])
for i = 7, #ARGV do redis.call('SADD', KEYS[4], ARGV[i]) end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 'ok'`);

/** RESEED's snapshot argument: every region with its backends and `health` (the reports to write back). */
export function reseedPayload(
  snapshot: Snapshot,
  health: Snapshot['health'],
): { json: string; regions: number; backends: number; reports: number } {
  let backends = 0;
  let reports = 0;
  const payload = [...snapshot.regions.values()].map((region) => {
    const b = [...(snapshot.backends.get(region.id)?.values() ?? [])].map((x) => [x.id, JSON.stringify(x)]);
    const h = [...(health.get(region.id)?.values() ?? [])].map((x) => [x.reporterId, JSON.stringify(x)]);
    backends += b.length;
    reports += h.length;
    return { id: region.id, region: JSON.stringify(region), backends: b, health: h };
  });
  return { json: JSON.stringify(payload), regions: payload.length, backends, reports };
}

/** Runs a script by its SHA, loading it with EVAL when Redis does not know it yet. */
export async function runScript(
  conn: Connection,
  script: Script,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  try {
    return await conn.call('EVALSHA', [script.sha, keys.length, ...keys, ...args]);
  } catch (err) {
    if (!describeError(err).startsWith('NOSCRIPT')) throw err;
    return conn.call('EVAL', [script.lua, keys.length, ...keys, ...args]);
  }
}
