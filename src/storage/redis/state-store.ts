// The shared StateStore on Redis (standalone, Sentinel or Cluster).
//
// Key layout (P = state.redis.keyPrefix; `{meridian}` is a Cluster hash tag, so every key of one
// deployment lives in one slot and multi-key scripts work on Redis Cluster too):
//   P{meridian}:regions            hash  regionId → Region JSON
//   P{meridian}:backends:<region>  hash  backendId → Backend JSON
//   P{meridian}:health:<region>    hash  reporterId → HealthReport JSON (last known; pruned after 24 h)
//   P{meridian}:rev                hash  regionId → revision, +1 on every write touching the region
//                                        (kept after the region is removed, so stale reads lose)
//   P{meridian}:epoch              string, random, set by the first write: missing or another value
//                                        means Redis lost the fleet's data (see "Lost data" below)
//   P{meridian}:lineage            set of the epochs a reseed continued (see "Lost data")
//   P{meridian}:changes            pub/sub channel: {"v":1,kind,op,regionId,id,origin,at}
//   P{meridian}:audit              stream, field `d` = AuditEntry JSON: the audit log, shared with
//                                        RedisOpsRecordStore (src/ops/redis-records.ts), which reads
//                                        and trims it; in this slot so audited writes can XADD to it
//
// Every write is one Lua script: the conditional checks (exists / not exists / compare-and-set for
// updates), the change, the revision bump, the audit entry (`XADD *`, when the write was given a
// WriteContext) and the PUBLISH happen atomically, and the script returns
// the region's whole state (region, backends, health, revision), which this node applies to its
// snapshot before the write resolves. Other nodes receive the message on a separate subscriber
// connection and re-read just that region; a reply is applied only if its revision is newer than the
// one applied, so reordered replies never roll state back. A full resync runs after (re)subscribing,
// after the command connection reconnects, and every `resyncSeconds`.
//
// Availability: `current()` always serves the last snapshot. Writes fail fast with E_UNAVAILABLE
// when Redis is unreachable (no offline queue, per-command timeout); reconnection is automatic with
// capped exponential backoff. `start()` resolves once the first full load is done and fails with
// E_UNAVAILABLE if that has not happened within `startTimeoutMs` (default 5 s): a node must not come
// up serving an empty state as if it were real.
//
// Outages (issue #12): a heartbeat PING every 250 ms tells a hung Redis (no reply within
// `HANG_AFTER_MS`, e.g. SIGSTOP) from a live one, faster than the command timeout. While Redis is
// unreachable the health clock is frozen: every report that was valid when Redis last answered is
// published with an expiry far ahead (nobody can refresh it, so its expiry says nothing about the
// region), and writes fail fast. When a full load succeeds again, the outage is over: reports written
// before it get its length added to their expiry (their remaining lifetime continues from where it was
// frozen), on this and every later load.
//
// Lost data: a node that knows the fleet's epoch and finds it missing or different (Redis restarted
// empty, FLUSHALL, another deployment's Redis) keeps serving its snapshot with frozen health, refuses
// writes (every write script checks the epoch it expects) and reports `dataLost` in its status, until
// `reseed()` on one node writes that node's snapshot back under a new epoch, listing the old one in
// the lineage set: nodes whose epoch is in the lineage accept the new one.
import { createHash, randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type {
  Backend,
  BackendInput,
  BackendPatch,
  ChangeEvent,
  ChangeKind,
  HealthReport,
  Region,
  RegionInput,
  RegionPatch,
  Snapshot,
  WriteContext,
} from '../../core/types.js';
import { EMPTY_SNAPSHOT, ID_PATTERN } from '../../core/types.js';
import { MeridianError, conflict, describeError, isMeridianError, notFound } from '../../core/errors.js';
import { assertId } from '../../core/validate.js';
import type { DeepReadonly } from '../../config/load.js';
import type { StateConfig } from '../../config/schema.js';
import { silentLogger, type Logger } from '../../infra/logger.js';
import { openRedis, redisSettings } from '../../infra/redis/connection.js';
import type { ChangeListener, DataLoss, ReseedResult, StateStore, StoreStatus } from '../state-store.js';
import { auditEntry, backendTarget, checkContext, patchVerb, regionTarget } from '../audit.js';
import {
  buildBackend,
  HEALTH_RETENTION_MS,
  buildRegion,
  isPrunable,
  patchBackend,
  patchRegion,
  reviveBackend,
  reviveRegion,
  validateHealthReport,
} from '../state-records.js';
import {
  RESYNC_EVENT,
  SnapshotBuilder,
  notifyListeners,
  sameContent,
  withSyncedAt,
} from '../snapshot-codec.js';

export interface RedisStateStoreOptions {
  redis: DeepReadonly<StateConfig['redis']>;
  logger?: Logger;
  now?: () => number;
  /** Names this node in change messages (default: random). */
  nodeId?: string;
  /** How long `start()` waits for the first full load (default 5000 ms). */
  startTimeoutMs?: number;
}

export interface RedisKeys {
  readonly regions: string;
  readonly rev: string;
  readonly epoch: string;
  readonly lineage: string;
  readonly channel: string;
  /** The audit log stream (shared with RedisOpsRecordStore). */
  readonly audit: string;
  readonly backendsBase: string;
  readonly healthBase: string;
  backends(regionId: string): string;
  health(regionId: string): string;
}

/** The key names used for a prefix (see the layout at the top of this file). */
export function redisKeys(prefix: string): RedisKeys {
  const base = `${prefix}{meridian}:`;
  return {
    regions: `${base}regions`,
    rev: `${base}rev`,
    epoch: `${base}epoch`,
    lineage: `${base}lineage`,
    channel: `${base}changes`,
    audit: `${base}audit`,
    backendsBase: `${base}backends:`,
    healthBase: `${base}health:`,
    backends: (id) => `${base}backends:${id}`,
    health: (id) => `${base}health:${id}`,
  };
}

// --- Lua ----------------------------------------------------------------------------------------
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

class Script {
  readonly sha: string;
  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }
}

const READ_REGION = new Script(`${PRELUDE}
return state('ok')`);

const CREATE_REGION = new Script(`${PRELUDE}
if region_exists() then return {'conflict'} end
redis.call('DEL', KEYS[3], KEYS[4])
redis.call('HSET', KEYS[1], rid, ARGV[5])
return finish()`);

const UPDATE_REGION = new Script(`${PRELUDE}
local cur = redis.call('HGET', KEYS[1], rid)
if not cur then return {'region-not-found'} end
if cur ~= ARGV[5] then return {'retry'} end
redis.call('HSET', KEYS[1], rid, ARGV[6])
return finish()`);

// ARGV[5] the region JSON the caller read ('' = remove whatever is there).
const REMOVE_REGION = new Script(`${PRELUDE}
local cur = redis.call('HGET', KEYS[1], rid)
if not cur then return {'region-not-found'} end
if ARGV[5] ~= '' and cur ~= ARGV[5] then return {'retry'} end
redis.call('HDEL', KEYS[1], rid)
redis.call('DEL', KEYS[3], KEYS[4])
return finish()`);

const CREATE_BACKEND = new Script(`${PRELUDE}
if not region_exists() then return {'region-not-found'} end
if redis.call('HSETNX', KEYS[3], ARGV[5], ARGV[6]) == 0 then return {'conflict'} end
return finish()`);

const UPDATE_BACKEND = new Script(`${PRELUDE}
if not region_exists() then return {'region-not-found'} end
local cur = redis.call('HGET', KEYS[3], ARGV[5])
if not cur then return {'backend-not-found'} end
if cur ~= ARGV[6] then return {'retry'} end
redis.call('HSET', KEYS[3], ARGV[5], ARGV[7])
return finish()`);

// ARGV[5] backend id, ARGV[6] the backend JSON the caller read ('' = remove whatever is there).
const REMOVE_BACKEND = new Script(`${PRELUDE}
if not region_exists() then return {'region-not-found'} end
local cur = redis.call('HGET', KEYS[3], ARGV[5])
if not cur then return {'backend-not-found'} end
if ARGV[6] ~= '' and cur ~= ARGV[6] then return {'retry'} end
redis.call('HDEL', KEYS[3], ARGV[5])
return finish()`);

// ARGV[5] reporter, ARGV[6] report JSON, ARGV[7] prune cutoff (ms epoch).
const REPORT_HEALTH = new Script(`${PRELUDE}
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
const READ_ALL = new Script(`
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
const RESEED = new Script(`
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

// --- connections --------------------------------------------------------------------------------

/** What this store needs from an ioredis `Redis` or `Cluster` connection. */
interface Connection extends EventEmitter {
  readonly status: string;
  call(command: string, args: (string | number)[]): Promise<unknown>;
  subscribe(...channels: string[]): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
}

function describeTarget(cfg: DeepReadonly<StateConfig['redis']>): string {
  if (cfg.cluster.length > 0)
    return `Redis Cluster ${cfg.cluster.map((n) => `${n.host}:${n.port}`).join(',')}`;
  if (cfg.sentinels.length > 0) {
    return `Redis Sentinel ${cfg.sentinels.map((n) => `${n.host}:${n.port}`).join(',')} (master ${cfg.sentinelName})`;
  }
  try {
    const u = new URL(cfg.url);
    return `Redis at ${u.hostname}:${u.port === '' ? '6379' : u.port}`;
  } catch {
    return 'Redis';
  }
}

/** The command connection (writes fail at once while disconnected) and the subscriber. */
function connect(
  cfg: DeepReadonly<StateConfig['redis']>,
  logger: Logger,
): { main: Connection; sub: Connection } {
  const settings = redisSettings(cfg);
  return {
    main: openRedis(settings, { name: 'state', profile: 'fail-fast', logger }),
    sub: openRedis(settings, { name: 'state-sub', profile: 'subscriber', logger }),
  };
}

async function runScript(
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

// --- replies ------------------------------------------------------------------------------------

interface RegionState {
  readonly epoch: string;
  readonly rev: number;
  readonly region: string | null;
  readonly backends: readonly string[];
  readonly health: readonly string[];
}

function asStrings(x: unknown): string[] {
  return Array.isArray(x) ? x.filter((v): v is string => typeof v === 'string') : [];
}

function pairs(flat: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]);
  return out;
}

function parseRegionState(reply: unknown[]): RegionState {
  const [, epoch, rev, region, backends, health] = reply;
  return {
    epoch: typeof epoch === 'string' ? epoch : '',
    rev: typeof rev === 'number' ? rev : Number(rev ?? 0),
    region: typeof region === 'string' ? region : null,
    backends: asStrings(backends),
    health: asStrings(health),
  };
}

interface ChangeMessage extends ChangeEvent {
  readonly origin: string;
  readonly at: number;
}

const KINDS: readonly ChangeKind[] = ['region', 'backend', 'health', 'resync'];

function parseMessage(text: string): ChangeMessage | undefined {
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof x !== 'object' || x === null) return undefined;
  const m = x as Record<string, unknown>;
  if (m.v !== 1 || typeof m.origin !== 'string' || typeof m.at !== 'number') return undefined;
  if (!KINDS.includes(m.kind as ChangeKind)) return undefined;
  if (m.op !== 'upsert' && m.op !== 'delete' && m.op !== 'resync') return undefined;
  if (m.regionId !== undefined && (typeof m.regionId !== 'string' || !ID_PATTERN.test(m.regionId)))
    return undefined;
  if (m.id !== undefined && typeof m.id !== 'string') return undefined;
  return {
    kind: m.kind as ChangeKind,
    op: m.op,
    origin: m.origin,
    at: m.at,
    ...(m.regionId === undefined ? {} : { regionId: m.regionId }),
    ...(m.id === undefined ? {} : { id: m.id }),
  };
}

const unavailable = (detail: string, cause?: unknown): MeridianError =>
  new MeridianError(
    'E_UNAVAILABLE',
    `state store unavailable: ${detail}`,
    cause === undefined ? undefined : { cause },
  );

const MAX_CAS_ATTEMPTS = 10;

/** How often the heartbeat PINGs Redis. */
const HEARTBEAT_MS = 250;
/** A PING unanswered this long means Redis hangs (capped by the command timeout). */
const HANG_AFTER_MS = 750;
/** Frozen reports expire this long after the freeze at the latest (they are pruned after it anyway). */
const FROZEN_HORIZON_MS = HEALTH_RETENTION_MS;
/** A failed write keeps the store degraded this long unless a write succeeds meanwhile. */
const FAILED_WRITE_MEMORY_MS = 30_000;
/** Outages remembered for extending the reports written before them. */
const MAX_OUTAGES = 16;

interface Outage {
  readonly from: number;
  readonly to: number;
}

/** A stored record as the audit log's `before`: its JSON value (the raw text if it is not JSON). */
function storedValue(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

// --- the store ----------------------------------------------------------------------------------

export class RedisStateStore implements StateStore {
  private readonly cfg: DeepReadonly<StateConfig['redis']>;
  private readonly keys: RedisKeys;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly origin: string;
  private readonly startTimeoutMs: number;
  private readonly target: string;
  private main: Connection | undefined;
  private sub: Connection | undefined;

  private snapshot: Snapshot = EMPTY_SNAPSHOT;
  private readonly listeners = new Set<ChangeListener>();
  /** Revision applied per region (including removed ones) within `epoch`. */
  private revs = new Map<string, number>();
  private epoch: string | undefined;

  private started = false;
  private closed = false;
  private subscribed = false;
  private resyncs = 0;
  private lastSyncAt = 0;
  private changeFeedLagMs = 0;
  private resyncTimer: NodeJS.Timeout | undefined;
  private resyncRunning: Promise<void> | undefined;
  private resyncAgain = false;
  private lastError = '';
  private wasConnected = false;
  private firstLoad: { resolve: () => void; promise: Promise<void> } | undefined;

  // Outages and lost data (see the top of this file).
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** When Redis last answered a command (ms epoch). */
  private lastAnsweredAt = 0;
  private pingSentAt: number | undefined;
  /** Connected, but the heartbeat went unanswered for HANG_AFTER_MS. */
  private hung = false;
  /** Since when health reports are frozen (undefined: the clock runs). */
  private frozenSince: number | undefined;
  /** The reports as they were before the freeze (what a reseed writes back). */
  private healthBeforeFreeze: Snapshot['health'] | undefined;
  private outages: Outage[] = [];
  private failedWrites = 0;
  private lastWriteOkAt = 0;
  private lastWriteFailedAt = 0;
  private dataLost: DataLoss | undefined;
  /** Epochs the current one continues (from the lineage set). */
  private lineage = new Set<string>();

  constructor(options: RedisStateStoreOptions) {
    this.cfg = options.redis;
    this.keys = redisKeys(options.redis.keyPrefix);
    this.now = options.now ?? Date.now;
    // Unique per instance, so a node ignores exactly its own messages even if two share a nodeId.
    this.origin = `${options.nodeId ?? 'node'}#${randomBytes(6).toString('hex')}`;
    this.startTimeoutMs = options.startTimeoutMs ?? 5000;
    this.target = describeTarget(options.redis);
    this.logger = (options.logger ?? silentLogger).child({ component: 'state', store: 'redis' });
  }

  async start(): Promise<void> {
    if (this.started) return;
    if (this.closed) throw unavailable('closed');
    let resolve: () => void = () => undefined;
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    this.firstLoad = { resolve, promise };
    const { main, sub } = connect(this.cfg, this.logger);
    this.main = main;
    this.sub = sub;
    this.wire(main, sub);

    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          unavailable(
            `could not load state from ${this.target} within ${this.startTimeoutMs} ms` +
              (this.lastError === '' ? '' : `: ${this.lastError}`),
          ),
        );
      }, this.startTimeoutMs);
    });
    try {
      await Promise.race([promise, timeout]);
    } catch (err) {
      await this.close();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    this.started = true;
    this.firstLoad = undefined;
    this.resyncTimer = setInterval(() => {
      if (this.main?.status === 'ready') this.requestResync('periodic');
    }, this.cfg.resyncSeconds * 1000);
    this.resyncTimer.unref();
    this.heartbeatTimer = setInterval(() => this.heartbeat(), HEARTBEAT_MS);
    this.heartbeatTimer.unref();
    this.logger.info({ target: this.target, regions: this.snapshot.regions.size }, 'state loaded from Redis');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.resyncTimer !== undefined) clearInterval(this.resyncTimer);
    if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
    const conns = [this.sub, this.main].filter((c): c is Connection => c !== undefined);
    await Promise.all(
      conns.map(async (c) => {
        if (c.status === 'ready') await c.quit().catch(() => undefined);
        c.disconnect();
      }),
    );
    await this.resyncRunning?.catch(() => undefined);
    this.listeners.clear();
  }

  current(): Snapshot {
    return this.snapshot;
  }

  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  status(): StoreStatus {
    const now = this.now();
    const connected = this.started && !this.closed && this.main?.status === 'ready' && !this.hung;
    return {
      kind: 'redis',
      connected,
      snapshotAgeMs: this.lastSyncAt === 0 ? 0 : Math.max(0, now - this.lastSyncAt),
      resyncs: this.resyncs,
      changeFeedLagMs: this.changeFeedLagMs,
      degraded: this.degradedReasons(connected, now),
      ...(this.frozenSince === undefined ? {} : { healthFrozenSince: this.frozenSince }),
      ...(this.lastWriteOkAt === 0 ? {} : { lastWriteAgeMs: Math.max(0, now - this.lastWriteOkAt) }),
      failedWrites: this.failedWrites,
      ...(this.dataLost === undefined ? {} : { dataLost: this.dataLost }),
    };
  }

  private degradedReasons(connected: boolean, now: number): string[] {
    const reasons: string[] = [];
    if (!this.started || this.closed) return reasons;
    if (this.dataLost !== undefined) {
      const found =
        this.dataLost.foundEpoch === '' ? 'no epoch (it is empty)' : `epoch ${this.dataLost.foundEpoch}`;
      reasons.push(
        `${this.target} lost the fleet's state: it holds ${found}, this node has epoch ${this.dataLost.expectedEpoch}; ` +
          'serving the last snapshot, writes refused until `meridian state reseed --from-node`',
      );
    } else if (!connected) {
      reasons.push(
        this.hung
          ? `${this.target} does not answer (no reply to PING within ${this.hangAfterMs()} ms)`
          : `not connected to ${this.target}${this.lastError === '' ? '' : ` (${this.lastError})`}`,
      );
    }
    if (
      this.lastWriteFailedAt > this.lastWriteOkAt &&
      now - this.lastWriteFailedAt < FAILED_WRITE_MEMORY_MS
    ) {
      reasons.push(`writes to ${this.target} are failing (${this.failedWrites} failed so far)`);
    }
    if (this.frozenSince !== undefined) {
      reasons.push(`health reports frozen since ${new Date(this.frozenSince).toISOString()}`);
    }
    return reasons;
  }

  private hangAfterMs(): number {
    return Math.min(HANG_AFTER_MS, this.cfg.commandTimeoutMs);
  }

  /** Tells a hung or lost Redis apart from a live one, and notices when it answers again. */
  private heartbeat(): void {
    const main = this.main;
    if (main === undefined || this.closed) return;
    const now = this.now();
    if (main.status !== 'ready') {
      this.freezeHealth('not connected');
      return;
    }
    if (this.pingSentAt !== undefined) {
      if (!this.hung && now - this.pingSentAt >= this.hangAfterMs()) {
        this.hung = true;
        this.logger.warn({ target: this.target }, 'Redis does not answer: serving the last snapshot');
        this.freezeHealth('not answering');
      }
      return;
    }
    const sentAt = now;
    this.pingSentAt = sentAt;
    main.call('PING', []).then(
      () => {
        if (this.pingSentAt === sentAt) this.pingSentAt = undefined;
        this.lastAnsweredAt = this.now();
        if (this.hung) {
          this.hung = false;
          this.logger.info({ target: this.target }, 'Redis answers again');
          this.requestResync('Redis answers again');
        } else if (this.frozenSince !== undefined && this.dataLost === undefined) {
          // e.g. the load after reconnecting failed: try again until one succeeds
          this.requestResync('health frozen while Redis answers');
        }
      },
      () => {
        if (this.pingSentAt === sentAt) this.pingSentAt = undefined;
        if (!this.hung && main.status === 'ready') {
          this.hung = true;
          this.freezeHealth('PING failed');
        }
      },
    );
  }

  /**
   * Stops the health clock: reports valid when Redis last answered stay valid (published with an
   * expiry FROZEN_HORIZON_MS ahead) until a full load ends the outage.
   */
  private freezeHealth(why: string): void {
    if (this.frozenSince !== undefined || this.closed || !this.started) return;
    const since = this.lastAnsweredAt === 0 ? this.now() : this.lastAnsweredAt;
    this.frozenSince = since;
    const before = this.snapshot.health;
    this.healthBeforeFreeze = before;
    const b = new SnapshotBuilder(this.snapshot);
    for (const [regionId, reports] of before) {
      const frozen = [...reports.values()].map((r) =>
        r.expiresAt > since ? { ...r, expiresAt: since + FROZEN_HORIZON_MS } : r,
      );
      b.replaceHealth(regionId, frozen);
    }
    this.logger.warn(
      { target: this.target, why, frozenSince: new Date(since).toISOString() },
      'health reports frozen until the state store is back',
    );
    this.publish(b.build(), RESYNC_EVENT);
  }

  /** After a successful full load: the outage is over; reports written before it live on by its length. */
  private thawHealth(): void {
    const from = this.frozenSince;
    if (from === undefined) return;
    const to = this.now();
    this.outages.push({ from, to });
    if (this.outages.length > MAX_OUTAGES) this.outages.shift();
    this.frozenSince = undefined;
    this.healthBeforeFreeze = undefined;
    // Writes refused during the outage say nothing about the store now that it is back.
    this.lastWriteFailedAt = 0;
    this.logger.info(
      { target: this.target, outageMs: to - from },
      'state store back: health clock runs again (reports from before the outage keep their remaining lifetime)',
    );
  }

  /**
   * A report still valid when an outage began expires later by the part of the outage it lived
   * through (its lifetime was frozen meanwhile). That includes reports written during the outage by
   * nodes that could still reach Redis (e.g. just before a Sentinel primary died): for this node the
   * clock stood still from when they were written.
   */
  private extendAcrossOutages(report: HealthReport): HealthReport {
    let expiresAt = report.expiresAt;
    for (const o of this.outages) {
      const frozenFrom = Math.max(o.from, report.reportedAt);
      if (frozenFrom < o.to && expiresAt > frozenFrom) expiresAt += o.to - frozenFrom;
    }
    return expiresAt === report.expiresAt ? report : { ...report, expiresAt };
  }

  /**
   * Writes this node's snapshot to Redis under a new epoch that continues the old one (see "Lost
   * data" at the top), then reloads. Health reports go back as they were before the freeze.
   */
  async reseed(options: { force?: boolean } = {}): Promise<ReseedResult> {
    if (this.closed) throw unavailable('closed');
    const main = this.main;
    if (!this.started || main?.status !== 'ready' || this.hung) {
      throw unavailable(`not connected to ${this.target}: a reseed needs a reachable Redis`);
    }
    if (this.dataLost === undefined && options.force !== true) {
      throw new MeridianError(
        'E_CONFLICT',
        `${this.target} still holds this node's epoch ${this.epoch ?? '(none)'}: nothing was lost, and a reseed ` +
          "would overwrite the fleet's current state with this node's view (force it with force: true / --force)",
      );
    }
    const snapshot = this.snapshot;
    const health = this.healthBeforeFreeze ?? snapshot.health;
    let backends = 0;
    let reports = 0;
    const payload = [...snapshot.regions.values()].map((region) => {
      const b = [...(snapshot.backends.get(region.id)?.values() ?? [])].map((x) => [x.id, JSON.stringify(x)]);
      const h = [...(health.get(region.id)?.values() ?? [])].map((x) => [x.reporterId, JSON.stringify(x)]);
      backends += b.length;
      reports += h.length;
      return { id: region.id, region: JSON.stringify(region), backends: b, health: h };
    });
    const epoch = randomBytes(8).toString('hex');
    const continues = [
      ...this.lineage,
      ...(this.epoch === undefined || this.epoch === '' ? [] : [this.epoch]),
    ];
    const message = JSON.stringify({
      v: 1,
      kind: 'resync',
      op: 'resync',
      origin: this.origin,
      at: this.now(),
    });
    const k = this.keys;
    try {
      await runScript(
        main,
        RESEED,
        [k.regions, k.rev, k.epoch, k.lineage],
        [
          k.backendsBase,
          k.healthBase,
          epoch,
          k.channel,
          message,
          JSON.stringify(payload),
          epoch,
          ...continues,
        ],
      );
    } catch (err) {
      throw unavailable(`${this.target}: ${describeError(err)}`, err);
    }
    this.logger.warn(
      { target: this.target, epoch, previous: this.epoch, regions: payload.length },
      'state store reseeded from this node',
    );
    this.epoch = epoch;
    this.lineage = new Set([...continues, epoch]);
    this.revs = new Map();
    this.dataLost = undefined;
    await this.runResync();
    return { epoch, regions: payload.length, backends, healthReports: reports };
  }

  resync(): Promise<void> {
    if (this.closed) return Promise.reject(unavailable('closed'));
    if (this.main?.status !== 'ready') return Promise.reject(unavailable(`not connected to ${this.target}`));
    return this.runResync();
  }

  // --- writes -----------------------------------------------------------------------------------

  // With a context, each write passes its audit entry as the script's last argument (see the Lua
  // section); removes then compare-and-delete what they read, so `before` is exactly what went.

  async createRegion(input: RegionInput, context?: WriteContext): Promise<Region> {
    const ctx = checkContext(context);
    const region = buildRegion(input, this.date());
    const audit =
      ctx === undefined
        ? ''
        : JSON.stringify(auditEntry(ctx, 'region', 'create', regionTarget(region.id), null, region));
    await this.mutate(
      region.id,
      CREATE_REGION,
      [JSON.stringify(region)],
      { kind: 'region', regionId: region.id, id: region.id, op: 'upsert' },
      audit,
    );
    return region;
  }

  async updateRegion(id: string, patch: RegionPatch, context?: WriteContext): Promise<Region> {
    const ctx = checkContext(context);
    assertId(id, 'regionId');
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const raw = await this.hget(this.keys.regions, id);
      if (raw === null) throw notFound(`region ${id}`);
      const before = this.revive(raw, reviveRegion, `region ${id}`);
      const next = patchRegion(before, patch, this.date());
      const audit =
        ctx === undefined
          ? ''
          : JSON.stringify(auditEntry(ctx, 'region', patchVerb(patch), regionTarget(id), before, next));
      const done = await this.mutate(
        id,
        UPDATE_REGION,
        [raw, JSON.stringify(next)],
        { kind: 'region', regionId: id, id, op: 'upsert' },
        audit,
      );
      if (done) return next;
    }
    throw unavailable(`region ${id} kept changing during the update; try again`);
  }

  async removeRegion(id: string, context?: WriteContext): Promise<void> {
    const ctx = checkContext(context);
    assertId(id, 'regionId');
    const event: ChangeEvent = { kind: 'region', regionId: id, id, op: 'delete' };
    if (ctx === undefined) {
      await this.mutate(id, REMOVE_REGION, [''], event);
      return;
    }
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const raw = await this.hget(this.keys.regions, id);
      if (raw === null) throw notFound(`region ${id}`);
      const audit = auditEntry(ctx, 'region', 'remove', regionTarget(id), storedValue(raw), null);
      if (await this.mutate(id, REMOVE_REGION, [raw], event, JSON.stringify(audit))) return;
    }
    throw unavailable(`region ${id} kept changing during the removal; try again`);
  }

  async createBackend(regionId: string, input: BackendInput, context?: WriteContext): Promise<Backend> {
    const ctx = checkContext(context);
    const backend = buildBackend(regionId, input, this.date());
    const audit =
      ctx === undefined
        ? ''
        : JSON.stringify(
            auditEntry(ctx, 'backend', 'create', backendTarget(regionId, backend.id), null, backend),
          );
    await this.mutate(
      regionId,
      CREATE_BACKEND,
      [backend.id, JSON.stringify(backend)],
      { kind: 'backend', regionId, id: backend.id, op: 'upsert' },
      audit,
    );
    return backend;
  }

  async updateBackend(
    regionId: string,
    id: string,
    patch: BackendPatch,
    context?: WriteContext,
  ): Promise<Backend> {
    const ctx = checkContext(context);
    assertId(regionId, 'regionId');
    assertId(id, 'backendId');
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const [region, raw] = await Promise.all([
        this.hget(this.keys.regions, regionId),
        this.hget(this.keys.backends(regionId), id),
      ]);
      if (region === null) throw notFound(`region ${regionId}`);
      if (raw === null) throw notFound(`backend ${id} in region ${regionId}`);
      const before = this.revive(raw, reviveBackend, `backend ${regionId}/${id}`);
      const next = patchBackend(before, patch, this.date());
      const audit =
        ctx === undefined
          ? ''
          : JSON.stringify(
              auditEntry(ctx, 'backend', patchVerb(patch), backendTarget(regionId, id), before, next),
            );
      const done = await this.mutate(
        regionId,
        UPDATE_BACKEND,
        [id, raw, JSON.stringify(next)],
        { kind: 'backend', regionId, id, op: 'upsert' },
        audit,
      );
      if (done) return next;
    }
    throw unavailable(`backend ${regionId}/${id} kept changing during the update; try again`);
  }

  async removeBackend(regionId: string, id: string, context?: WriteContext): Promise<void> {
    const ctx = checkContext(context);
    assertId(regionId, 'regionId');
    assertId(id, 'backendId');
    const event: ChangeEvent = { kind: 'backend', regionId, id, op: 'delete' };
    if (ctx === undefined) {
      await this.mutate(regionId, REMOVE_BACKEND, [id, ''], event);
      return;
    }
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const [region, raw] = await Promise.all([
        this.hget(this.keys.regions, regionId),
        this.hget(this.keys.backends(regionId), id),
      ]);
      if (region === null) throw notFound(`region ${regionId}`);
      if (raw === null) throw notFound(`backend ${id} in region ${regionId}`);
      const target = backendTarget(regionId, id);
      const audit = auditEntry(ctx, 'backend', 'remove', target, storedValue(raw), null);
      if (await this.mutate(regionId, REMOVE_BACKEND, [id, raw], event, JSON.stringify(audit))) return;
    }
    throw unavailable(`backend ${regionId}/${id} kept changing during the removal; try again`);
  }

  async reportHealth(report: HealthReport): Promise<void> {
    const valid = validateHealthReport(report);
    const cutoff = this.now() - HEALTH_RETENTION_MS;
    await this.mutate(valid.regionId, REPORT_HEALTH, [valid.reporterId, JSON.stringify(valid), cutoff], {
      kind: 'health',
      regionId: valid.regionId,
      id: valid.reporterId,
      op: 'upsert',
    });
  }

  // --- internals --------------------------------------------------------------------------------

  private date(): Date {
    return new Date(this.now());
  }

  private revive<T>(raw: string, revive: (x: unknown) => T, what: string): T {
    try {
      return revive(JSON.parse(raw));
    } catch (err) {
      throw new MeridianError('E_INTERNAL', `${what} stored in Redis is invalid: ${describeError(err)}`);
    }
  }

  private writable(): Connection {
    if (this.closed) throw unavailable('closed');
    if (!this.started || this.main === undefined) throw unavailable('start() was not called');
    if (this.main.status !== 'ready') {
      throw unavailable(
        `not connected to ${this.target}${this.lastError === '' ? '' : ` (${this.lastError})`}`,
      );
    }
    if (this.dataLost !== undefined) {
      throw unavailable(
        `${this.target} lost the fleet's state (epoch ${this.dataLost.expectedEpoch} is gone); ` +
          "writes are refused until `meridian state reseed --from-node` writes a node's snapshot back",
      );
    }
    // Fail fast instead of waiting for the command timeout; the heartbeat notices the recovery.
    if (this.hung) throw unavailable(`${this.target} does not answer`);
    if (this.frozenSince !== undefined)
      throw unavailable(`reloading the state from ${this.target} after an outage`);
    return this.main;
  }

  private async hget(key: string, field: string): Promise<string | null> {
    const conn = this.writable();
    try {
      const v = await conn.call('HGET', [key, field]);
      return typeof v === 'string' ? v : null;
    } catch (err) {
      throw unavailable(`${this.target}: ${describeError(err)}`, err);
    }
  }

  private regionKeys(regionId: string): string[] {
    const k = this.keys;
    return [k.regions, k.rev, k.backends(regionId), k.health(regionId), k.epoch, k.audit];
  }

  /**
   * Runs a region write script and applies the region's new state locally.
   * @returns false when a compare-and-set lost against a concurrent write (the caller retries).
   */
  private async mutate(
    regionId: string,
    script: Script,
    args: (string | number)[],
    event: ChangeEvent,
    /** The audit entry JSON for the stream; '' = not audited. */
    audit = '',
  ): Promise<boolean> {
    let conn: Connection;
    try {
      conn = this.writable();
    } catch (err) {
      this.countFailedWrite();
      throw err;
    }
    const message = JSON.stringify({ v: 1, ...event, origin: this.origin, at: this.now() });
    let reply: unknown;
    try {
      reply = await runScript(conn, script, this.regionKeys(regionId), [
        regionId,
        this.keys.channel,
        message,
        // The candidate is fresh every time: if Redis lost its data, the new epoch must differ from
        // every earlier one. The expected epoch makes the write fail if Redis lost its data.
        `${randomBytes(8).toString('hex')}|${this.epoch ?? ''}`,
        ...args,
        audit,
      ]);
    } catch (err) {
      this.countFailedWrite();
      throw unavailable(`${this.target}: ${describeError(err)}`, err);
    }
    this.lastAnsweredAt = this.now();
    const status: unknown = Array.isArray(reply) ? reply[0] : undefined;
    if (status !== 'epoch-changed') this.lastWriteOkAt = this.lastAnsweredAt;
    switch (status) {
      case 'ok':
        this.applyRegionState(regionId, parseRegionState(reply as unknown[]), event);
        return true;
      case 'epoch-changed':
        this.countFailedWrite();
        this.requestResync('a write found another epoch');
        throw unavailable(
          `${this.target} no longer holds epoch ${this.epoch ?? ''} (it lost its data or was reseeded); nothing was written`,
        );
      case 'retry':
        return false;
      case 'conflict':
        throw conflict(
          event.kind === 'region' ? `region ${regionId}` : `backend ${event.id ?? ''} in region ${regionId}`,
        );
      case 'region-not-found':
        throw notFound(`region ${regionId}`);
      case 'backend-not-found':
        throw notFound(`backend ${event.id ?? ''} in region ${regionId}`);
      default:
        throw new MeridianError('E_INTERNAL', `unexpected reply from Redis script: ${JSON.stringify(reply)}`);
    }
  }

  private countFailedWrite(): void {
    this.failedWrites++;
    this.lastWriteFailedAt = this.now();
  }

  private publish(next: Snapshot, event: ChangeEvent): void {
    this.snapshot = next;
    notifyListeners(this.listeners, next, event, (err) => {
      this.logger.error({ err: describeError(err), change: event }, 'state change listener threw');
    });
  }

  private decodeRegion(
    state: RegionState,
    regionId: string,
  ): {
    region: Region | undefined;
    backends: Backend[];
    health: HealthReport[];
  } {
    const now = this.now();
    let region: Region | undefined;
    if (state.region !== null) {
      try {
        region = reviveRegion(JSON.parse(state.region));
        if (region.id !== regionId) throw new Error(`id is ${region.id}`);
      } catch (err) {
        this.logger.warn({ regionId, err: describeError(err) }, 'ignoring an invalid region stored in Redis');
        region = undefined;
      }
    }
    const backends: Backend[] = [];
    const health: HealthReport[] = [];
    if (region === undefined) return { region, backends, health };
    for (const [id, raw] of pairs(state.backends)) {
      try {
        const b = reviveBackend(JSON.parse(raw));
        if (b.id !== id || b.regionId !== regionId) throw new Error(`key ${id} holds ${b.regionId}/${b.id}`);
        backends.push(b);
      } catch (err) {
        this.logger.warn(
          { regionId, backendId: id, err: describeError(err) },
          'ignoring an invalid backend in Redis',
        );
      }
    }
    for (const [reporterId, raw] of pairs(state.health)) {
      try {
        const h = validateHealthReport(JSON.parse(raw));
        if (h.reporterId !== reporterId || h.regionId !== regionId) throw new Error('key does not match');
        if (!isPrunable(h, now)) health.push(this.extendAcrossOutages(h));
      } catch (err) {
        this.logger.warn(
          { regionId, reporterId, err: describeError(err) },
          'ignoring an invalid health report',
        );
      }
    }
    return { region, backends, health };
  }

  /** Applies one region's state if it is newer than what this node has. */
  private applyRegionState(regionId: string, state: RegionState, event: ChangeEvent, sentAt?: number): void {
    if (this.frozenSince !== undefined) {
      // Health is frozen (outage or lost data): only a full load may end that.
      this.requestResync('change while health is frozen');
      return;
    }
    if (state.epoch !== this.epoch) {
      if (this.epoch !== undefined && this.epoch !== '') {
        // Lost data or a reseed: the full load decides whether to accept the new epoch.
        this.requestResync('epoch changed');
        return;
      }
      // The first write ever set the epoch.
      this.epoch = state.epoch;
      this.revs = new Map();
    }
    const known = this.revs.get(regionId);
    if (known !== undefined && state.rev <= known) return;
    this.revs.set(regionId, state.rev);
    const { region, backends, health } = this.decodeRegion(state, regionId);
    const b = new SnapshotBuilder(this.snapshot);
    if (region === undefined) {
      if (!this.snapshot.regions.has(regionId)) return;
      b.deleteRegion(regionId);
    } else {
      b.setRegion(region).replaceBackends(regionId, backends).replaceHealth(regionId, health);
    }
    if (sentAt !== undefined) this.changeFeedLagMs = Math.max(0, this.now() - sentAt);
    this.publish(b.build(), event);
  }

  private wire(main: Connection, sub: Connection): void {
    const onError = (which: string) => (err: unknown) => {
      const text = describeError(err);
      if (text !== this.lastError) {
        this.logger.warn({ target: this.target, connection: which, err: text }, 'Redis connection error');
      }
      this.lastError = text;
    };
    main.on('error', onError('command'));
    sub.on('error', onError('subscriber'));
    main.on('ready', () => {
      this.lastError = '';
      if (this.wasConnected) this.logger.info({ target: this.target }, 'reconnected to Redis');
      this.wasConnected = true;
      if (this.subscribed) this.requestResync('reconnected');
    });
    main.on('close', () => {
      if (this.wasConnected && !this.closed) {
        this.logger.warn({ target: this.target }, 'lost the Redis connection: serving the last snapshot');
        this.freezeHealth('connection closed');
      }
    });
    sub.on('close', () => {
      this.subscribed = false;
    });
    sub.on('ready', () => {
      sub
        .subscribe(this.keys.channel)
        .then(() => {
          this.subscribed = true;
          // Messages may have been lost while the subscriber was away.
          this.requestResync('subscribed');
        })
        .catch((err: unknown) => {
          onError('subscriber')(err);
        });
    });
    sub.on('message', (channel: string, text: string) => {
      if (channel === this.keys.channel) this.onMessage(text);
    });
  }

  private onMessage(text: string): void {
    const m = parseMessage(text);
    if (m === undefined) {
      this.logger.warn({ message: text.slice(0, 200) }, 'ignoring a malformed change message');
      return;
    }
    if (m.origin === this.origin || this.closed) return;
    const event: ChangeEvent = {
      kind: m.kind,
      op: m.op,
      ...(m.regionId === undefined ? {} : { regionId: m.regionId }),
      ...(m.id === undefined ? {} : { id: m.id }),
    };
    if (m.kind === 'resync' || m.regionId === undefined) {
      this.requestResync('requested by a peer');
      return;
    }
    const main = this.main;
    if (main?.status !== 'ready') return; // the resync after reconnecting catches up
    const regionId = m.regionId;
    const k = this.keys;
    runScript(
      main,
      READ_REGION,
      [k.regions, k.rev, k.backends(regionId), k.health(regionId), k.epoch],
      [regionId],
    )
      .then((reply) => {
        if (this.closed || !Array.isArray(reply)) return;
        this.applyRegionState(regionId, parseRegionState(reply), event, m.at);
      })
      .catch((err: unknown) => {
        this.logger.warn({ regionId, err: describeError(err) }, 'could not read a changed region: resyncing');
        this.requestResync('region read failed');
      });
  }

  /**
   * Whether a full load holding `epoch` may replace this node's snapshot: yes for the epoch this node
   * knows, for a reseed that continues it, or when this node has nothing to lose; otherwise Redis lost
   * the fleet's data and this node keeps its snapshot (see "Lost data" at the top).
   */
  private acceptEpoch(epoch: string, lineage: ReadonlySet<string>): boolean {
    const known = this.epoch;
    const lost =
      known !== undefined &&
      known !== '' &&
      epoch !== known &&
      !lineage.has(known) &&
      this.snapshot.regions.size > 0;
    if (lost) {
      if (this.dataLost?.foundEpoch !== epoch) {
        this.dataLost = {
          since: this.dataLost?.since ?? this.now(),
          expectedEpoch: known,
          foundEpoch: epoch,
        };
        this.logger.error(
          {
            target: this.target,
            expectedEpoch: known,
            foundEpoch: epoch,
            regions: this.snapshot.regions.size,
          },
          'the state store lost the fleet state: serving the last snapshot, writes refused; run `meridian state reseed --from-node`',
        );
      }
      this.freezeHealth('the store lost its data');
      return false;
    }
    if (this.dataLost !== undefined) {
      this.logger.warn({ target: this.target, epoch }, 'the state store holds the fleet state again');
      this.dataLost = undefined;
    } else if (known !== undefined && known !== '' && epoch !== known) {
      this.logger.warn(
        { target: this.target, epoch, previous: known },
        'the state store was reseeded: taking its state',
      );
    }
    this.lineage = new Set(lineage);
    return true;
  }

  /** Starts a resync, or schedules one more if one is running. Never rejects. */
  private requestResync(reason: string): void {
    if (this.closed) return;
    this.logger.debug({ reason }, 'resync requested');
    this.runResync().catch((err: unknown) => {
      this.logger.warn({ reason, err: describeError(err) }, 'resync failed: serving the last snapshot');
    });
  }

  private runResync(): Promise<void> {
    if (this.resyncRunning !== undefined) {
      this.resyncAgain = true;
      return this.resyncRunning;
    }
    const run = async (): Promise<void> => {
      try {
        do {
          this.resyncAgain = false;
          try {
            await this.loadAll();
          } catch (err) {
            // A resync requested while this one ran (e.g. the connection just came back) must
            // not be lost with this failure: run it.
            if (!this.resyncAgain || this.closed) throw err;
            this.logger.debug(
              { err: describeError(err) },
              'resync failed; running the one requested meanwhile',
            );
          }
        } while (this.resyncAgain && !this.closed);
      } finally {
        this.resyncRunning = undefined;
      }
    };
    this.resyncRunning = run();
    return this.resyncRunning;
  }

  private async loadAll(): Promise<void> {
    const main = this.main;
    if (main === undefined || this.closed) return;
    const wasSubscribed = this.subscribed;
    const k = this.keys;
    let reply: unknown;
    try {
      reply = await runScript(
        main,
        READ_ALL,
        [k.regions, k.rev, k.epoch, k.lineage],
        [k.backendsBase, k.healthBase],
      );
    } catch (err) {
      throw unavailable(`${this.target}: ${describeError(err)}`, err);
    }
    if (this.closed) return;
    if (!Array.isArray(reply))
      throw new MeridianError('E_INTERNAL', 'unexpected reply to the state load script');
    const [epochRaw, revsFlat, entries, lineageRaw] = reply as unknown[];
    const epoch = typeof epochRaw === 'string' ? epochRaw : '';
    this.lastAnsweredAt = this.now();
    if (!this.acceptEpoch(epoch, new Set(asStrings(lineageRaw)))) return;
    this.thawHealth();
    const sameEpoch = epoch === this.epoch;
    const remoteRevs = new Map<string, number>();
    for (const [id, rev] of pairs(asStrings(revsFlat))) remoteRevs.set(id, Number(rev));

    // Keep a region as this node has it only if this node already applied a newer revision of it
    // (a write or message that raced with this read); otherwise Redis's copy wins.
    const local = this.snapshot;
    const newer = (id: string, rev: number): boolean => sameEpoch && (this.revs.get(id) ?? -1) > rev;
    const b = new SnapshotBuilder(EMPTY_SNAPSHOT);
    const revs = new Map<string, number>(remoteRevs);
    const keepLocal = (id: string): void => {
      const region = local.regions.get(id);
      if (region === undefined) return;
      b.setRegion(region)
        .replaceBackends(id, local.backends.get(id)?.values() ?? [])
        .replaceHealth(id, local.health.get(id)?.values() ?? []);
    };
    const seen = new Set<string>();
    for (const entry of Array.isArray(entries) ? (entries as unknown[]) : []) {
      if (!Array.isArray(entry)) continue;
      const [id, rev, region, backends, health] = entry as unknown[];
      if (typeof id !== 'string') continue;
      seen.add(id);
      const revision = typeof rev === 'number' ? rev : Number(rev ?? 0);
      if (newer(id, revision)) {
        keepLocal(id);
        revs.set(id, this.revs.get(id) ?? revision);
        continue;
      }
      revs.set(id, revision);
      const state: RegionState = {
        epoch,
        rev: revision,
        region: typeof region === 'string' ? region : null,
        backends: asStrings(backends),
        health: asStrings(health),
      };
      const decoded = this.decodeRegion(state, id);
      if (decoded.region === undefined) continue;
      b.setRegion(decoded.region).replaceBackends(id, decoded.backends).replaceHealth(id, decoded.health);
    }
    for (const id of local.regions.keys()) {
      if (!seen.has(id) && newer(id, remoteRevs.get(id) ?? 0)) {
        keepLocal(id);
        revs.set(id, this.revs.get(id) ?? 0);
      }
    }
    if (sameEpoch) {
      for (const [id, rev] of this.revs) if (rev > (revs.get(id) ?? -1)) revs.set(id, rev);
    } else if (this.epoch !== undefined) {
      this.logger.warn({ target: this.target }, 'Redis state epoch changed: replacing the whole snapshot');
    }
    this.epoch = epoch;
    this.revs = revs;
    const syncedAt = this.now();
    const next = b.build({ version: local.version + 1, syncedAt });
    this.resyncs++;
    this.lastSyncAt = syncedAt;
    if (sameContent(local, next)) {
      this.snapshot = withSyncedAt(local, syncedAt);
    } else {
      this.publish(next, RESYNC_EVENT);
    }
    if (wasSubscribed && this.firstLoad !== undefined) this.firstLoad.resolve();
  }
}

/** Whether an error means the store could not be reached (for callers deciding whether to retry). */
export function isUnavailable(err: unknown): boolean {
  return isMeridianError(err) && err.code === 'E_UNAVAILABLE';
}
