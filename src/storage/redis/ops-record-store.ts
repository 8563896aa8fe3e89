// The shared operations record store: one Redis stream per kind. Keys (each stream shares a hash
// slot with its markers, so the scripts also work on Redis Cluster):
//   <prefix>{meridian}:audit                   stream, field `d` (JSON): the audit log. It lives in
//                                              the state store's slot because audited state writes
//                                              XADD to it in their own Lua script (redis/state-scripts.ts,
//                                              `redisKeys(prefix).audit`); other audit entries
//                                              (policies, tasks) are appended here too
//   <prefix>{meridian}:audit-mark:<key>        SET NX PX markers for audit dedupe/idempotency keys
//   <prefix>{ops}:alert                        stream, field `d` (JSON): alerts
//   <prefix>{ops}:dedupe:<key>                 SET NX PX markers for deduplicated alerts (and
//                                              alert idempotency keys, as `dedupe:idem:<key>`)
// Appends go through a Lua script: `XADD <time>-*`, falling back to `XADD *` when the stream
// already holds a later id (clock skew between nodes), with the marker checks in the same script.
// Entries written by the state store's scripts use `XADD *` (Redis's clock); ids still only grow.
// Queries read XRANGE/XREVRANGE in chunks (COUNT) and filter here; one query scans at most
// `maxScan` entries and then returns a cursor so the caller continues.
import { whenReady, type RedisConnection } from '../../infra/redis/connection.js';
import { MeridianError, describeError, isMeridianError } from '../../core/errors.js';
import { redisKeys } from './state-keys.js';
import {
  formatId,
  inRange,
  makeRecord,
  normalizeQuery,
  parseId,
  reviveData,
  validateData,
  type AppendOptions,
  type CleanupResult,
  type OpsRecordStore,
  type RecordData,
  type RecordKind,
  type RecordOf,
  type RecordPage,
  type RecordQuery,
  type RetentionLimits,
} from '../ops-record-store.js';

export interface RedisOpsRecordStoreOptions {
  /** A connected (or connecting) client. The store does not close it unless `ownsClient`. */
  readonly client: RedisConnection;
  /** Same convention as `state.redis.keyPrefix`, e.g. `meridian:`. */
  readonly keyPrefix?: string;
  readonly ownsClient?: boolean;
  /** Entries read per XRANGE call. */
  readonly chunk?: number;
  /** Entries one query may scan before it returns a cursor. */
  readonly maxScan?: number;
  readonly clock?: () => number;
}

// KEYS = stream, then marker keys; ARGV = time, JSON, then one PX per marker. Any marker already
// set suppresses the append (and sets none).
const APPEND_SCRIPT = `
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return false end
end
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], '1', 'PX', ARGV[i + 1])
end
local id = redis.pcall('XADD', KEYS[1], ARGV[1] .. '-*', 'd', ARGV[2])
if type(id) == 'table' and id.err then
  id = redis.call('XADD', KEYS[1], '*', 'd', ARGV[2])
end
return id
`;

/** How long Redis remembers an idempotency key (the memory store keeps it with the record). */
export const IDEMPOTENCY_TTL_MS = 7 * 86_400_000;

/** ops key helpers shared with the task store. */
export function opsKey(prefix: string, name: string): string {
  return `${prefix}{ops}:${name}`;
}

export function unavailable(what: string, err: unknown): MeridianError {
  if (isMeridianError(err)) return err;
  return new MeridianError('E_UNAVAILABLE', `${what}: ${describeError(err)}`, { cause: err });
}

type StreamEntry = [string, string[]];

function isEntryList(x: unknown): x is StreamEntry[] {
  return (
    Array.isArray(x) && x.every((e) => Array.isArray(e) && typeof e[0] === 'string' && Array.isArray(e[1]))
  );
}

export class RedisOpsRecordStore implements OpsRecordStore {
  readonly kind = 'redis' as const;
  private readonly client: RedisConnection;
  private readonly prefix: string;
  private readonly ownsClient: boolean;
  private readonly chunk: number;
  private readonly maxScan: number;
  private readonly clock: () => number;

  constructor(options: RedisOpsRecordStoreOptions) {
    this.client = options.client;
    this.prefix = options.keyPrefix ?? 'meridian:';
    this.ownsClient = options.ownsClient ?? false;
    this.chunk = options.chunk ?? 500;
    this.maxScan = options.maxScan ?? 20_000;
    this.clock = options.clock ?? Date.now;
  }

  private key(kind: RecordKind): string {
    return kind === 'audit' ? redisKeys(this.prefix).audit : opsKey(this.prefix, kind);
  }

  /** A dedupe/idempotency marker in the same slot as the kind's stream. */
  private marker(kind: RecordKind, name: string): string {
    return kind === 'audit' ? `${this.key('audit')}-mark:${name}` : opsKey(this.prefix, `dedupe:${name}`);
  }

  /** Resolves once the connection is up; a wrong password fails at once, naming this store. */
  start(): Promise<void> {
    return whenReady(this.client, 'ops record store');
  }

  async close(): Promise<void> {
    if (this.ownsClient) await this.client.quit().catch(() => undefined);
  }

  async append<K extends RecordKind>(
    kind: K,
    data: RecordData[K],
    options: AppendOptions = {},
  ): Promise<RecordOf[K] | undefined> {
    const valid = validateData(kind, data);
    const time = Math.max(0, Math.floor(options.time ?? this.clock()));
    const json = JSON.stringify(valid);
    const markers: string[] = [];
    const ttls: string[] = [];
    if (options.dedupeKey !== undefined) {
      markers.push(this.marker(kind, options.dedupeKey));
      ttls.push(String(Math.max(1, Math.floor(options.dedupeMs ?? 60_000))));
    }
    if (options.idempotencyKey !== undefined) {
      markers.push(this.marker(kind, `idem:${options.idempotencyKey}`));
      ttls.push(String(IDEMPOTENCY_TTL_MS));
    }
    let reply: unknown;
    try {
      reply = await this.client.eval(
        APPEND_SCRIPT,
        1 + markers.length,
        this.key(kind),
        ...markers,
        String(time),
        json,
        ...ttls,
      );
    } catch (err) {
      throw unavailable(`cannot append ${kind} record`, err);
    }
    if (reply === null || reply === undefined || reply === false) return undefined;
    if (typeof reply !== 'string')
      throw new MeridianError('E_INTERNAL', `unexpected XADD reply ${JSON.stringify(reply)}`);
    return makeRecord(parseId(reply, 'id'), valid);
  }

  async query<K extends RecordKind>(kind: K, query: RecordQuery = {}): Promise<RecordPage<RecordOf[K]>> {
    const q = normalizeQuery(kind, query);
    const key = this.key(kind);
    const items: RecordOf[K][] = [];
    const lower = q.since === undefined ? '-' : `${q.since}-0`;
    const upper = q.until === undefined ? '+' : `${q.until}`;
    // The next chunk starts after `position` (exclusive), or at the query's own bound.
    let position = q.cursor === undefined ? undefined : formatId(q.cursor);
    let scanned = 0;
    const count = Math.min(1000, Math.max(this.chunk, q.limit));
    for (;;) {
      let reply: unknown;
      try {
        reply =
          q.order === 'desc'
            ? await this.client.call(
                'XREVRANGE',
                key,
                position === undefined ? upper : `(${position}`,
                lower,
                'COUNT',
                count,
              )
            : await this.client.call(
                'XRANGE',
                key,
                position === undefined ? lower : `(${position}`,
                upper,
                'COUNT',
                count,
              );
      } catch (err) {
        throw unavailable(`cannot read ${kind} records`, err);
      }
      if (!isEntryList(reply)) throw new MeridianError('E_INTERNAL', 'unexpected XRANGE reply');
      for (let i = 0; i < reply.length; i++) {
        const [rawId, fields] = reply[i] as StreamEntry;
        position = rawId;
        scanned++;
        const id = parseId(rawId, 'id');
        if (!inRange(id, q)) continue;
        const json = fields[fields.indexOf('d') + 1];
        let data: RecordData[K] | undefined;
        try {
          data = json === undefined ? undefined : reviveData(kind, JSON.parse(json));
        } catch {
          data = undefined;
        }
        if (data === undefined) continue;
        const record = makeRecord(id, data);
        if (!q.matches(record)) continue;
        if (items.length === q.limit) return { items, nextCursor: items.at(-1)?.id ?? rawId };
        items.push(record);
      }
      if (reply.length < count) return { items };
      if (scanned >= this.maxScan && position !== undefined) return { items, nextCursor: position };
    }
  }

  async cleanup(limits: RetentionLimits, now = this.clock()): Promise<CleanupResult> {
    const cutoff = Math.max(0, Math.floor(now - limits.maxAgeMs));
    const removed = { audit: 0, alert: 0 };
    for (const kind of ['audit', 'alert'] as const) {
      try {
        const byAge = await this.client.call('XTRIM', this.key(kind), 'MINID', `${cutoff}-0`);
        const byCount = await this.client.call(
          'XTRIM',
          this.key(kind),
          'MAXLEN',
          Math.max(0, limits.maxCount),
        );
        removed[kind] = Number(byAge) + Number(byCount);
      } catch (err) {
        throw unavailable(`cannot clean up ${kind} records`, err);
      }
    }
    return removed;
  }
}
