// The shared traffic and health history on Redis. Keys (one `{history}` hash tag, so every key is
// in one Cluster slot and a flush is one pipeline):
//   <prefix>{history}:t:<minute>:<region>   hash, counter name → integer (HINCRBY: nodes add up);
//                                           expires `minuteRetentionMs` after its minute
//                                           (PEXPIREAT), so a fleet that stops pruning still forgets
//   <prefix>{history}:h:<hour>:<region>     the same per hour; expires `retentionMs` after its hour
//   <prefix>{history}:minutes, :hours       sorted sets, member `<minute>:<region>`, score minute
//                                           (hour): the index range queries and pruning read
//   <prefix>{history}:health                sorted set, member the event's JSON, score its time `t`
//                                           (exact time ranges whatever order nodes write in; an
//                                           identical event written twice is kept once)
//   <prefix>{history}:dedupe:<key>          SET NX PX markers: one event per transition fleet-wide
// One rollup key per minute and region keeps each hash small enough for Redis's compact listpack
// encoding (128 fields by default); see scripts/history-size.ts for the measured footprint.
import { whenReady, type RedisConnection } from '../../infra/redis/connection.js';
import {
  HOUR_MS,
  MINUTE_MS,
  hourOf,
  compareRollups,
  reviveHealthEvent,
  validateHealthEvent,
  validateRange,
  validateRollup,
  type HealthAppendOptions,
  type HealthEvent,
  type HistoryRange,
  type HistoryStore,
  type Resolution,
  type TrafficRollup,
} from '../history-store.js';
import { unavailable } from './ops-record-store.js';

export interface RedisHistoryStoreOptions {
  /** A connected (or connecting) client; the store does not close it. */
  readonly client: RedisConnection;
  /** Same convention as `state.redis.keyPrefix`, e.g. `meridian:`. */
  readonly keyPrefix?: string;
  /** Hour rollup keys expire this long after their hour; default 30 days. */
  readonly retentionMs?: number;
  /** Minute rollup keys expire this long after their minute; default `retentionMs`. */
  readonly minuteRetentionMs?: number;
  /** Rollup hashes read per pipeline. */
  readonly chunk?: number;
}

/** The history's keys under a prefix (tests and the size script read them). */
export function historyKeys(prefix: string): {
  rollup: (minute: number, region: string, resolution?: Resolution) => string;
  index: (resolution: Resolution) => string;
  minutes: string;
  health: string;
  dedupe: (key: string) => string;
} {
  const base = `${prefix}{history}`;
  return {
    rollup: (minute, region, resolution = 'minute') =>
      `${base}:${resolution === 'hour' ? 'h' : 't'}:${minute}:${region}`,
    index: (resolution) => `${base}:${resolution === 'hour' ? 'hours' : 'minutes'}`,
    minutes: `${base}:minutes`,
    health: `${base}:health`,
    dedupe: (key) => `${base}:dedupe:${key}`,
  };
}

// KEYS = events, marker (or none); ARGV = time, JSON, marker PX. The marker check and the append
// are one step, so two nodes appending the same transition at once record it once.
const APPEND_EVENT = `
if #KEYS > 1 then
  if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3]) == false then return 0 end
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

export class RedisHistoryStore implements HistoryStore {
  readonly kind = 'redis' as const;
  private readonly client: RedisConnection;
  private readonly keys: ReturnType<typeof historyKeys>;
  private readonly retentionMs: number;
  private readonly minuteRetentionMs: number;
  private readonly chunk: number;

  constructor(options: RedisHistoryStoreOptions) {
    this.client = options.client;
    this.keys = historyKeys(options.keyPrefix ?? 'meridian:');
    this.retentionMs = options.retentionMs ?? 30 * 86_400_000;
    this.minuteRetentionMs = options.minuteRetentionMs ?? this.retentionMs;
    this.chunk = options.chunk ?? 500;
  }

  start(): Promise<void> {
    return whenReady(this.client, 'history store');
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  async addTraffic(rollups: readonly TrafficRollup[]): Promise<void> {
    const valid = rollups.map(validateRollup).filter((r) => Object.keys(r.counters).length > 0);
    if (valid.length === 0) return;
    const pipeline = this.client.multi();
    for (const r of valid) {
      const hour = hourOf(r.minute);
      for (const [resolution, at, expireAt] of [
        ['minute', r.minute, r.minute + MINUTE_MS + this.minuteRetentionMs],
        ['hour', hour, hour + HOUR_MS + this.retentionMs],
      ] as const) {
        const key = this.keys.rollup(at, r.region, resolution);
        for (const [name, value] of Object.entries(r.counters)) pipeline.hincrby(key, name, value);
        pipeline.pexpireat(key, expireAt);
        pipeline.zadd(this.keys.index(resolution), at, `${at}:${r.region}`);
      }
    }
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await pipeline.exec();
    } catch (err) {
      throw unavailable('cannot write traffic history', err);
    }
    const failed = replies?.find(([err]) => err !== null)?.[0];
    if (replies === null || failed) throw unavailable('cannot write traffic history', failed ?? 'aborted');
  }

  async traffic(range: HistoryRange): Promise<TrafficRollup[]> {
    const { from, to, region, resolution = 'minute' } = validateRange(range);
    let members: string[];
    try {
      members = await this.client.zrangebyscore(this.keys.index(resolution), from, to);
    } catch (err) {
      throw unavailable('cannot read traffic history', err);
    }
    const wanted: { minute: number; region: string }[] = [];
    for (const member of members) {
      const colon = member.indexOf(':');
      const r = member.slice(colon + 1);
      if (region === undefined || r === region)
        wanted.push({ minute: Number(member.slice(0, colon)), region: r });
    }
    const out: TrafficRollup[] = [];
    for (let i = 0; i < wanted.length; i += this.chunk) {
      const part = wanted.slice(i, i + this.chunk);
      const pipeline = this.client.pipeline();
      for (const w of part) pipeline.hgetall(this.keys.rollup(w.minute, w.region, resolution));
      let replies: [Error | null, unknown][] | null;
      try {
        replies = await pipeline.exec();
      } catch (err) {
        throw unavailable('cannot read traffic history', err);
      }
      part.forEach((w, j) => {
        const [err, hash] = replies?.[j] ?? [null, undefined];
        if (err !== null || typeof hash !== 'object' || hash === null) return;
        const counters: Record<string, number> = {};
        for (const [name, value] of Object.entries(hash as Record<string, string>)) {
          const n = Number(value);
          if (Number.isSafeInteger(n) && n > 0) counters[name] = n;
        }
        if (Object.keys(counters).length > 0) out.push({ minute: w.minute, region: w.region, counters });
      });
    }
    return out.sort(compareRollups);
  }

  async addHealthEvent(event: HealthEvent, options: HealthAppendOptions = {}): Promise<boolean> {
    const valid = validateHealthEvent(event);
    const keys = [this.keys.health];
    if (options.dedupeKey !== undefined) keys.push(this.keys.dedupe(options.dedupeKey));
    let reply: unknown;
    try {
      reply = await this.client.eval(
        APPEND_EVENT,
        keys.length,
        ...keys,
        String(valid.t),
        JSON.stringify(valid),
        String(Math.max(1, Math.floor(options.dedupeMs ?? 5000))),
      );
    } catch (err) {
      throw unavailable('cannot append health event', err);
    }
    return reply === 1;
  }

  async healthEvents(range: HistoryRange): Promise<HealthEvent[]> {
    const { from, to, region } = validateRange(range);
    const out: HealthEvent[] = [];
    for (let offset = 0; ; offset += this.chunk) {
      let members: string[];
      try {
        members = await this.client.zrangebyscore(this.keys.health, from, to, 'LIMIT', offset, this.chunk);
      } catch (err) {
        throw unavailable('cannot read health events', err);
      }
      for (const json of members) {
        let event: HealthEvent | undefined;
        try {
          event = reviveHealthEvent(JSON.parse(json));
        } catch {
          event = undefined;
        }
        if (event !== undefined && (region === undefined || event.region === region)) out.push(event);
      }
      if (members.length < this.chunk) return out;
    }
  }

  async prune(before: number, minutesBefore = before): Promise<number> {
    try {
      let removed = 0;
      for (const [resolution, cutoff] of [
        ['minute', Math.max(before, minutesBefore)],
        // The hour holding `before` stays whole.
        ['hour', hourOf(before)],
      ] as const) {
        const index = this.keys.index(resolution);
        const old = await this.client.zrangebyscore(index, '-inf', `(${cutoff}`);
        for (let i = 0; i < old.length; i += this.chunk) {
          const part = old.slice(i, i + this.chunk);
          await this.client.del(
            ...part.map((m) => {
              const colon = m.indexOf(':');
              return this.keys.rollup(Number(m.slice(0, colon)), m.slice(colon + 1), resolution);
            }),
          );
          await this.client.zrem(index, ...part);
        }
        removed += old.length;
      }
      const trimmed = await this.client.zremrangebyscore(this.keys.health, '-inf', `(${before}`);
      return removed + trimmed;
    } catch (err) {
      throw unavailable('cannot prune the history', err);
    }
  }
}
