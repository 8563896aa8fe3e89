// Operations records: the audit log (who changed what) and alerts (what happened to the fleet).
// One interface, two implementations (memory-records.ts, redis-records.ts) that pass one shared
// contract suite (test/ops/records-contract.ts). Nothing here is on a DNS or proxy hot path.
//
// Ids and times. Every record's id is `<ms>-<seq>` (a Redis stream id) and its `time` is the id's
// millisecond part as an RFC 3339 string, so ids sort by time and a cursor is just an id. Times
// never go backwards within one kind: an append whose time is older than the newest record is
// stamped later (memory: the newest record's time; Redis: the later of that and the server clock).
//
// Queries return newest first by default (`order: 'desc'`), oldest first with `order: 'asc'`.
// `since` and `until` are inclusive millisecond bounds. A page holds at most `limit` items; when
// `nextCursor` is present, passing it back continues after the last record returned or scanned
// (the next page may then be empty). Following cursors until none is returned yields every
// matching record exactly once.
import { invalid } from '../core/errors.js';

export type RecordKind = 'audit' | 'alert';
export const RECORD_KINDS: readonly RecordKind[] = ['audit', 'alert'];

export const ALERT_TYPES = [
  'region_health',
  'backend_health',
  'health_flap',
  'health_disagreement',
  'geo_reload_failed',
  'redis_unreachable',
  'redis_recovered',
  'state_data_lost',
  'task_failed',
  'task_missed',
  'node_lost',
  'autoscale_failed',
  'worker_died',
  'worker_restart_failed',
] as const;
export type AlertType = (typeof ALERT_TYPES)[number];

export const ALERT_LEVELS = ['info', 'warning', 'critical'] as const;
export type AlertLevel = (typeof ALERT_LEVELS)[number];

/** `info` < `warning` < `critical`. */
export function levelRank(level: AlertLevel): number {
  return ALERT_LEVELS.indexOf(level);
}

/** What an admin write appends to the audit log. */
export interface AuditEntry {
  /** Who: `token:config` (the bootstrap token) or `user:<name>/token:<token name>` (core/access.ts). */
  readonly actor: string;
  /** `<noun>.<verb>`, e.g. `region.create`, `backend.update`, `task.remove`. */
  readonly action: string;
  /** `<noun>/<id>`, e.g. `region/eu-west`, `backend/eu-west/web-1`, `task/nightly-drain`. */
  readonly target: string;
  readonly before?: unknown;
  readonly after?: unknown;
  readonly requestId?: string;
}

export interface AuditRecord extends AuditEntry {
  readonly id: string;
  /** RFC 3339, UTC. */
  readonly time: string;
}

export interface AlertInput {
  readonly type: AlertType;
  readonly level: AlertLevel;
  /** What the alert is about: `region/eu-west`, `backend/eu-west/web-1`, `task/x`, a node id, a path. */
  readonly subject: string;
  readonly message: string;
  /** The node that raised it. */
  readonly node?: string;
}

export interface AlertRecord extends AlertInput {
  readonly id: string;
  readonly time: string;
}

export interface RecordData {
  audit: AuditEntry;
  alert: AlertInput;
}
export interface RecordOf {
  audit: AuditRecord;
  alert: AlertRecord;
}
export type AnyRecord = AuditRecord | AlertRecord;

export interface AppendOptions {
  /** Milliseconds since the epoch; default now. Clamped so times never go backwards. */
  readonly time?: number;
  /**
   * Appends only if no append with the same key happened in the last `dedupeMs` (across every
   * node sharing the store). Several nodes seeing the same transition then record one alert.
   */
  readonly dedupeKey?: string;
  readonly dedupeMs?: number;
  /**
   * Appends only if no record of this kind was appended with the same key before (resolving
   * `undefined` otherwise), so redelivering an entry records it once. The memory state store's
   * audit outbox uses its entry ids. Memory: remembered as long as the record is kept (persisted
   * with it). Redis: remembered for `IDEMPOTENCY_TTL_MS` (7 days).
   */
  readonly idempotencyKey?: string;
}

export interface RecordQuery {
  /** Inclusive lower bound, ms epoch. */
  readonly since?: number;
  /** Inclusive upper bound, ms epoch. */
  readonly until?: number;
  /** Audit: exact actor. */
  readonly actor?: string;
  /** Audit: exact target, or a prefix when it ends with `*` (`region/eu-*`). */
  readonly target?: string;
  /** Alerts: this level and above (`warning` → warning and critical). */
  readonly level?: AlertLevel;
  /** Alerts: one type or several. */
  readonly type?: AlertType | readonly AlertType[];
  /** Default 100, at most 1000. */
  readonly limit?: number;
  readonly cursor?: string;
  /** `desc` (default): newest first. `asc`: oldest first. */
  readonly order?: 'asc' | 'desc';
}

export interface RecordPage<T> {
  readonly items: T[];
  readonly nextCursor?: string;
}

export interface RetentionLimits {
  /** Records older than this are removed. */
  readonly maxAgeMs: number;
  /** Per kind, only the newest `maxCount` records are kept. */
  readonly maxCount: number;
}

export interface CleanupResult {
  readonly audit: number;
  readonly alert: number;
}

export interface OpsRecordStore {
  readonly kind: 'memory' | 'redis';
  start(): Promise<void>;
  close(): Promise<void>;
  /**
   * Appends a record and returns it with its id and time; `undefined` only when `dedupeKey` or
   * `idempotencyKey` suppressed it. Throws MeridianError E_VALIDATION for a malformed record, E_UNAVAILABLE when
   * the store cannot be reached.
   */
  append<K extends RecordKind>(
    kind: K,
    data: RecordData[K],
    options?: AppendOptions,
  ): Promise<RecordOf[K] | undefined>;
  query<K extends RecordKind>(kind: K, query?: RecordQuery): Promise<RecordPage<RecordOf[K]>>;
  /** Drops what is older than `maxAgeMs` before `now`, then all but the newest `maxCount`, per kind. */
  cleanup(limits: RetentionLimits, now?: number): Promise<CleanupResult>;
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the implementations.

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;
const MAX_TEXT = 10_000;
const MAX_JSON_BYTES = 256 * 1024;

export interface StreamId {
  readonly ms: number;
  readonly seq: number;
}

const ID_RE = /^(\d{1,15})-(\d{1,15})$/;

export function parseId(text: string, field = 'cursor'): StreamId {
  const m = ID_RE.exec(text);
  if (m === null)
    throw invalid(field, `expected a record id like 1718000000000-0, got ${JSON.stringify(text)}`);
  return { ms: Number(m[1]), seq: Number(m[2]) };
}

export function formatId(id: StreamId): string {
  return `${id.ms}-${id.seq}`;
}

export function compareIds(a: StreamId, b: StreamId): number {
  return a.ms - b.ms || a.seq - b.seq;
}

function text(value: unknown, field: string, max = MAX_TEXT): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    throw invalid(field, `expected a string of 1-${max} characters`);
  }
  return value;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalid(field, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

/** Validates what is about to be appended and returns a plain copy with only the known keys. */
export function validateData<K extends RecordKind>(kind: K, data: RecordData[K]): RecordData[K] {
  if (typeof data !== 'object' || data === null) throw invalid('record', 'expected an object');
  if (kind === 'audit') {
    const a = data as AuditEntry;
    const out: { -readonly [P in keyof AuditEntry]: AuditEntry[P] } = {
      actor: text(a.actor, 'actor', 200),
      action: text(a.action, 'action', 200),
      target: text(a.target, 'target', 500),
    };
    if (a.before !== undefined) out.before = a.before;
    if (a.after !== undefined) out.after = a.after;
    if (a.requestId !== undefined) out.requestId = text(a.requestId, 'requestId', 200);
    if (JSON.stringify(out).length > MAX_JSON_BYTES)
      throw invalid('record', `larger than ${MAX_JSON_BYTES} bytes`);
    return out as RecordData[K];
  }
  const a = data as AlertInput;
  const out: { -readonly [P in keyof AlertInput]: AlertInput[P] } = {
    type: oneOf(a.type, ALERT_TYPES, 'type'),
    level: oneOf(a.level, ALERT_LEVELS, 'level'),
    subject: text(a.subject, 'subject', 500),
    message: text(a.message, 'message'),
  };
  if (a.node !== undefined) out.node = text(a.node, 'node', 200);
  return out as RecordData[K];
}

/** A record from its id and stored data. */
export function makeRecord<K extends RecordKind>(id: StreamId, data: RecordData[K]): RecordOf[K] {
  return { id: formatId(id), time: new Date(id.ms).toISOString(), ...data } as RecordOf[K];
}

/** Revives stored data (file line, stream entry); undefined when it is not a valid record. */
export function reviveData<K extends RecordKind>(kind: K, x: unknown): RecordData[K] | undefined {
  if (typeof x !== 'object' || x === null) return undefined;
  const { id: _id, time: _time, ...rest } = x as Record<string, unknown>;
  try {
    return validateData(kind, rest as unknown as RecordData[K]);
  } catch {
    return undefined;
  }
}

export interface NormalizedQuery {
  readonly since: number | undefined;
  readonly until: number | undefined;
  readonly limit: number;
  readonly cursor: StreamId | undefined;
  readonly order: 'asc' | 'desc';
  readonly matches: (record: AnyRecord) => boolean;
}

function bound(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(field, `expected a time in ms since the epoch, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function normalizeQuery(kind: RecordKind, q: RecordQuery = {}): NormalizedQuery {
  const limit = q.limit ?? DEFAULT_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw invalid('limit', `expected an integer from 1 to ${MAX_LIMIT}, got ${JSON.stringify(q.limit)}`);
  }
  const order = q.order ?? 'desc';
  if (order !== 'asc' && order !== 'desc') throw invalid('order', 'expected asc or desc');
  const since = bound(q.since, 'since');
  const until = bound(q.until, 'until');
  const cursor = q.cursor === undefined ? undefined : parseId(q.cursor);
  const tests: ((r: AnyRecord) => boolean)[] = [];
  if (kind === 'audit') {
    if (q.actor !== undefined) {
      const actor = q.actor;
      tests.push((r) => (r as AuditRecord).actor === actor);
    }
    if (q.target !== undefined) {
      const target = q.target;
      if (target.endsWith('*')) {
        const prefix = target.slice(0, -1);
        tests.push((r) => (r as AuditRecord).target.startsWith(prefix));
      } else {
        tests.push((r) => (r as AuditRecord).target === target);
      }
    }
  } else {
    if (q.level !== undefined) {
      const min = levelRank(oneOf(q.level, ALERT_LEVELS, 'level'));
      tests.push((r) => levelRank((r as AlertRecord).level) >= min);
    }
    if (q.type !== undefined) {
      const types = new Set<string>(
        (typeof q.type === 'string' ? [q.type] : q.type).map((t) => oneOf(t, ALERT_TYPES, 'type')),
      );
      tests.push((r) => types.has((r as AlertRecord).type));
    }
  }
  return {
    since,
    until,
    limit,
    cursor,
    order,
    matches: (r) => tests.every((t) => t(r)),
  };
}

/** Whether an id is inside the query's time bounds and past its cursor. */
export function inRange(id: StreamId, q: NormalizedQuery): boolean {
  if (q.since !== undefined && id.ms < q.since) return false;
  if (q.until !== undefined && id.ms > q.until) return false;
  if (q.cursor !== undefined) {
    const c = compareIds(id, q.cursor);
    if (q.order === 'desc' ? c >= 0 : c <= 0) return false;
  }
  return true;
}
