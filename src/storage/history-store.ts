// The traffic and health history: per-minute rollups of counters per region (written once a minute
// by every node, off the DNS and proxy hot paths) and health events (a region's verdict or a
// backend's health changed, with the reason). One interface, two backends (memory/history-store.ts,
// redis/history-store.ts) passing one contract suite (test/storage/history-store-contract.ts).
//
// The store knows nothing of what the counters mean (ops/history/ names them): a rollup is
// (minute, region) → { counter name → non-negative integer }. Rollups of the same minute and region
// written by several nodes add up, so a query sees the fleet's totals. Every rollup written also
// adds into its hour's rollup (resolution `hour`), so the history can keep minutes for a short
// while and hours for the whole retention (`prune`): 30 days of minutes for 20 busy regions take
// over a gigabyte, 30 days of hours ~60× less (scripts/history-size.ts). Times are ms since the
// epoch; a minute (an hour) is its first millisecond. Ranges are inclusive on both ends.
import { invalid } from '../core/errors.js';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;

export type Resolution = 'minute' | 'hour';

/** One node's counts for one minute and one region. */
export interface TrafficRollup {
  /** The minute's first millisecond (a multiple of 60 000). */
  readonly minute: number;
  readonly region: string;
  /** Counter name → increment (non-negative integer). Zeros may be left out. */
  readonly counters: Readonly<Record<string, number>>;
}

export type HealthEventSource = 'proxy' | 'verdict' | 'operator' | 'node';
export const HEALTH_EVENT_SOURCES: readonly HealthEventSource[] = ['proxy', 'verdict', 'operator', 'node'];

/** A health state change: of a region (`backend` null) or of one backend in it. */
export interface HealthEvent {
  /** When it happened, ms since the epoch. */
  readonly t: number;
  readonly region: string;
  readonly backend: string | null;
  readonly healthy: boolean;
  /** Why, in words (e.g. `2/3 backends healthy`, `connect ECONNREFUSED`). */
  readonly reason: string;
  /** Who decided: the proxy's backend checks, the region verdict, an operator, a node. */
  readonly source: HealthEventSource;
}

export interface HealthAppendOptions {
  /**
   * Several nodes see the same transition: an event whose key was appended within the last
   * `dedupeMs` (by any node sharing the store) is dropped.
   */
  readonly dedupeKey?: string;
  readonly dedupeMs?: number;
}

export interface HistoryRange {
  /** Inclusive, ms since the epoch. */
  readonly from: number;
  /** Inclusive, ms since the epoch. */
  readonly to: number;
  /** Only this region; default every region. */
  readonly region?: string;
  /** Which rollups: per minute (default) or per hour (`minute` of each is then its hour's start). */
  readonly resolution?: Resolution;
}

export interface HistoryStore {
  readonly kind: 'memory' | 'redis';
  start(): Promise<void>;
  close(): Promise<void>;
  /**
   * Adds rollups (merging with what other nodes wrote for the same minute and region), each also
   * into its hour's rollup.
   */
  addTraffic(rollups: readonly TrafficRollup[]): Promise<void>;
  /** The merged rollups of the range's resolution inside it, oldest first, then by region. */
  traffic(range: HistoryRange): Promise<TrafficRollup[]>;
  /** Appends a health event; resolves false when its dedupe key suppressed it. */
  addHealthEvent(event: HealthEvent, options?: HealthAppendOptions): Promise<boolean>;
  /** The health events inside the range, oldest first. */
  healthEvents(range: HistoryRange): Promise<HealthEvent[]>;
  /**
   * Drops every rollup and event older than `before` (ms; hour rollups: the hours before the one
   * holding `before`), and minute rollups older than `minutesBefore` too (default `before`).
   * Resolves to how many items went.
   */
  prune(before: number, minutesBefore?: number): Promise<number>;
}

// ---------------------------------------------------------------------------------------------
// Validation shared by the backends: what is written must be readable back by every node.

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$/;
const COUNTER_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/;
/** Bounds one rollup (a region with many backends and countries stays far below it). */
const MAX_COUNTERS = 10_000;

function time(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw invalid(field, `expected a time in ms since the epoch, got ${JSON.stringify(value)}`);
  return value;
}

function name(value: unknown, field: string): string {
  if (typeof value !== 'string' || !NAME_RE.test(value))
    throw invalid(field, `expected 1-200 letters, digits or . _ : / -, got ${JSON.stringify(value)}`);
  return value;
}

/** A plain, validated copy of a rollup without zero counters. */
export function validateRollup(r: TrafficRollup): TrafficRollup {
  const minute = time(r.minute, 'minute');
  if (minute % MINUTE_MS !== 0) throw invalid('minute', `expected a multiple of ${MINUTE_MS}, got ${minute}`);
  const counters: Record<string, number> = {};
  const entries = Object.entries(r.counters);
  if (entries.length > MAX_COUNTERS) throw invalid('counters', `more than ${MAX_COUNTERS} counters`);
  for (const [key, value] of entries) {
    if (!COUNTER_RE.test(key)) throw invalid('counters', `bad counter name ${JSON.stringify(key)}`);
    if (!Number.isSafeInteger(value) || value < 0)
      throw invalid(`counters.${key}`, `expected a non-negative integer, got ${JSON.stringify(value)}`);
    if (value > 0) counters[key] = value;
  }
  return { minute, region: name(r.region, 'region'), counters };
}

/** A plain, validated copy of a health event. */
export function validateHealthEvent(e: HealthEvent): HealthEvent {
  if (typeof e !== 'object' || e === null) throw invalid('event', 'expected an object');
  if (typeof e.healthy !== 'boolean') throw invalid('healthy', 'expected true or false');
  if (typeof e.reason !== 'string' || e.reason.length > 1000)
    throw invalid('reason', 'expected a string of at most 1000 characters');
  if (!(HEALTH_EVENT_SOURCES as readonly string[]).includes(e.source))
    throw invalid('source', `expected one of ${HEALTH_EVENT_SOURCES.join(', ')}`);
  return {
    t: time(e.t, 't'),
    region: name(e.region, 'region'),
    backend: e.backend === null ? null : name(e.backend, 'backend'),
    healthy: e.healthy,
    reason: e.reason,
    source: e.source,
  };
}

/** Stored JSON back to an event; undefined when it is not a valid one. */
export function reviveHealthEvent(x: unknown): HealthEvent | undefined {
  try {
    return validateHealthEvent(x as HealthEvent);
  } catch {
    return undefined;
  }
}

/** Validates a query range (from ≤ to). */
export function validateRange(range: HistoryRange): HistoryRange {
  const from = time(range.from, 'from');
  const to = time(range.to, 'to');
  if (from > to) throw invalid('from', `expected from (${from}) not after to (${to})`);
  const resolution = range.resolution ?? 'minute';
  if (resolution !== 'minute' && resolution !== 'hour')
    throw invalid('resolution', 'expected minute or hour');
  return range.region === undefined
    ? { from, to, resolution }
    : { from, to, resolution, region: name(range.region, 'region') };
}

/** Adds `counters` into `into`. */
export function addCounters(into: Record<string, number>, counters: Readonly<Record<string, number>>): void {
  for (const [key, value] of Object.entries(counters)) into[key] = (into[key] ?? 0) + value;
}

/** The hour a minute belongs to. */
export function hourOf(minute: number): number {
  return Math.floor(minute / HOUR_MS) * HOUR_MS;
}

/** Orders rollups by minute, then region. */
export function compareRollups(a: TrafficRollup, b: TrafficRollup): number {
  return a.minute - b.minute || (a.region < b.region ? -1 : a.region > b.region ? 1 : 0);
}
