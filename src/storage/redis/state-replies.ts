// Reading what Redis sends the state store: the replies of its scripts (one region's state), the
// messages of the change feed, and the decoding of stored JSON into regions, backends and health
// reports. Anything invalid in Redis is logged and skipped, never trusted and never fatal.
import type { Backend, ChangeEvent, ChangeKind, HealthReport, Region } from '../../core/types.js';
import { ID_PATTERN } from '../../core/types.js';
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../infra/logger.js';
import { isPrunable, reviveBackend, reviveRegion, validateHealthReport } from '../state-records.js';

/** One region as a script returns it (see `state()` in state-scripts.ts). */
export interface RegionState {
  readonly epoch: string;
  readonly rev: number;
  readonly region: string | null;
  readonly backends: readonly string[];
  readonly health: readonly string[];
}

export function asStrings(x: unknown): string[] {
  return Array.isArray(x) ? x.filter((v): v is string => typeof v === 'string') : [];
}

/** A flat HGETALL reply as [field, value] pairs. */
export function pairs(flat: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]);
  return out;
}

export function parseRegionState(reply: unknown[]): RegionState {
  const [, epoch, rev, region, backends, health] = reply;
  return {
    epoch: typeof epoch === 'string' ? epoch : '',
    rev: typeof rev === 'number' ? rev : Number(rev ?? 0),
    region: typeof region === 'string' ? region : null,
    backends: asStrings(backends),
    health: asStrings(health),
  };
}

/** A change feed message: which record changed, from which node, when. */
export interface ChangeMessage extends ChangeEvent {
  readonly origin: string;
  readonly at: number;
}

const KINDS: readonly ChangeKind[] = ['region', 'backend', 'health', 'resync'];

/** A change feed message, or undefined if it is not one this version understands. */
export function parseMessage(text: string): ChangeMessage | undefined {
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

export interface DecodedRegion {
  region: Region | undefined;
  backends: Backend[];
  health: HealthReport[];
}

/**
 * Revives one region's stored records. Health reports due for pruning are dropped; the others go
 * through `extend` (the outage tracker adds the outages they lived through to their expiry).
 */
export function decodeRegion(
  state: RegionState,
  regionId: string,
  context: { now: number; logger: Logger; extend: (report: HealthReport) => HealthReport },
): DecodedRegion {
  const { now, logger } = context;
  let region: Region | undefined;
  if (state.region !== null) {
    try {
      region = reviveRegion(JSON.parse(state.region));
      if (region.id !== regionId) throw new Error(`id is ${region.id}`);
    } catch (err) {
      logger.warn({ regionId, err: describeError(err) }, 'ignoring an invalid region stored in Redis');
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
      logger.warn(
        { regionId, backendId: id, err: describeError(err) },
        'ignoring an invalid backend in Redis',
      );
    }
  }
  for (const [reporterId, raw] of pairs(state.health)) {
    try {
      const h = validateHealthReport(JSON.parse(raw));
      if (h.reporterId !== reporterId || h.regionId !== regionId) throw new Error('key does not match');
      if (!isPrunable(h, now)) health.push(context.extend(h));
    } catch (err) {
      logger.warn({ regionId, reporterId, err: describeError(err) }, 'ignoring an invalid health report');
    }
  }
  return { region, backends, health };
}
