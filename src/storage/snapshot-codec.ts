// Immutable snapshots: building a new one from an old one plus a change (copy-on-write maps),
// their plain-JSON form (the memory store's file, IPC to node:cluster workers), and a read-only
// replica store that serves snapshots pushed to it.
import type {
  Backend,
  BackendInput,
  BackendPatch,
  ChangeEvent,
  HealthReport,
  Region,
  RegionInput,
  RegionPatch,
  Snapshot,
} from '../core/types.js';
import { EMPTY_SNAPSHOT } from '../core/types.js';
import { MeridianError, invalid, isMeridianError } from '../core/errors.js';
import type { ChangeListener, StateStore, StoreStatus } from './state-store.js';
import { reviveBackend, reviveRegion, validateHealthReport } from './state-records.js';

export const SNAPSHOT_FORMAT = 1;

/** The plain JSON form of a snapshot. */
export interface SnapshotJson {
  readonly format: typeof SNAPSHOT_FORMAT;
  readonly version: number;
  readonly syncedAt: number;
  readonly regions: readonly Region[];
  readonly backends: readonly Backend[];
  readonly health: readonly HealthReport[];
}

function readOnly(): never {
  throw new TypeError('snapshot maps are immutable');
}

/** Makes a Map immutable at run time too: set/delete/clear throw. */
export function freezeMap<K, V>(map: Map<K, V>): ReadonlyMap<K, V> {
  Object.defineProperties(map, {
    set: { value: readOnly },
    delete: { value: readOnly },
    clear: { value: readOnly },
  });
  return Object.freeze(map);
}

/**
 * Produces a new snapshot from `base` plus changes. Maps are copied only when first changed, so
 * regions that did not change share their maps with the old snapshot; `base` is never modified.
 */
export class SnapshotBuilder {
  private regions: Map<string, Region> | undefined;
  private backends: Map<string, ReadonlyMap<string, Backend>> | undefined;
  private health: Map<string, ReadonlyMap<string, HealthReport>> | undefined;
  private readonly innerBackends = new Map<string, Map<string, Backend>>();
  private readonly innerHealth = new Map<string, Map<string, HealthReport>>();

  constructor(private readonly base: Snapshot) {}

  private regionsW(): Map<string, Region> {
    this.regions ??= new Map(this.base.regions);
    return this.regions;
  }

  private backendsOf(regionId: string): Map<string, Backend> {
    let inner = this.innerBackends.get(regionId);
    if (inner === undefined) {
      this.backends ??= new Map(this.base.backends);
      inner = new Map(this.backends.get(regionId) ?? []);
      this.innerBackends.set(regionId, inner);
      this.backends.set(regionId, inner);
    }
    return inner;
  }

  private healthOf(regionId: string): Map<string, HealthReport> {
    let inner = this.innerHealth.get(regionId);
    if (inner === undefined) {
      this.health ??= new Map(this.base.health);
      inner = new Map(this.health.get(regionId) ?? []);
      this.innerHealth.set(regionId, inner);
      this.health.set(regionId, inner);
    }
    return inner;
  }

  /** The current (possibly already changed) view, for read-modify-write within one build. */
  region(id: string): Region | undefined {
    return (this.regions ?? this.base.regions).get(id);
  }

  setRegion(region: Region): this {
    this.regionsW().set(region.id, region);
    return this;
  }

  /** Removes the region together with its backends and health reports. */
  deleteRegion(id: string): this {
    this.regionsW().delete(id);
    this.replaceBackends(id, []);
    this.replaceHealth(id, []);
    return this;
  }

  setBackend(backend: Backend): this {
    this.backendsOf(backend.regionId).set(backend.id, backend);
    return this;
  }

  deleteBackend(regionId: string, id: string): this {
    this.backendsOf(regionId).delete(id);
    return this;
  }

  replaceBackends(regionId: string, backends: Iterable<Backend>): this {
    const inner = this.backendsOf(regionId);
    inner.clear();
    for (const b of backends) inner.set(b.id, b);
    return this;
  }

  setHealth(report: HealthReport): this {
    this.healthOf(report.regionId).set(report.reporterId, report);
    return this;
  }

  deleteHealth(regionId: string, reporterId: string): this {
    this.healthOf(regionId).delete(reporterId);
    return this;
  }

  replaceHealth(regionId: string, reports: Iterable<HealthReport>): this {
    const inner = this.healthOf(regionId);
    inner.clear();
    for (const r of reports) inner.set(r.reporterId, r);
    return this;
  }

  /** Removes health reports matching `predicate` everywhere; returns how many were removed. */
  pruneHealth(predicate: (r: HealthReport) => boolean): number {
    let removed = 0;
    for (const [regionId, reports] of this.health ?? this.base.health) {
      for (const r of reports.values()) {
        if (predicate(r)) {
          this.healthOf(regionId).delete(r.reporterId);
          removed++;
        }
      }
    }
    return removed;
  }

  /** Whether anything was touched (a touched map may still hold equal content). */
  get touched(): boolean {
    return this.regions !== undefined || this.backends !== undefined || this.health !== undefined;
  }

  build(options: { syncedAt?: number; version?: number } = {}): Snapshot {
    const seal = <V>(
      outer: Map<string, ReadonlyMap<string, V>> | undefined,
      inner: Map<string, Map<string, V>>,
    ) => {
      if (outer === undefined) return undefined;
      for (const [regionId, map] of inner) {
        if (map.size === 0) outer.delete(regionId);
        else outer.set(regionId, freezeMap(map));
      }
      return freezeMap(outer);
    };
    return Object.freeze({
      version: options.version ?? this.base.version + 1,
      syncedAt: options.syncedAt ?? this.base.syncedAt,
      regions: this.regions === undefined ? this.base.regions : freezeMap(this.regions),
      backends: seal(this.backends, this.innerBackends) ?? this.base.backends,
      health: seal(this.health, this.innerHealth) ?? this.base.health,
    });
  }
}

/** A snapshot from complete lists (a full load). Backends and reports of unknown regions are dropped. */
export function snapshotFromLists(
  lists: { regions: Iterable<Region>; backends: Iterable<Backend>; health: Iterable<HealthReport> },
  version: number,
  syncedAt: number,
): Snapshot {
  const b = new SnapshotBuilder(EMPTY_SNAPSHOT);
  for (const r of lists.regions) b.setRegion(r);
  const known = (id: string): boolean => b.region(id) !== undefined;
  for (const x of lists.backends) if (known(x.regionId)) b.setBackend(x);
  for (const h of lists.health) if (known(h.regionId)) b.setHealth(h);
  return b.build({ version, syncedAt });
}

/** A copy of `s` with another `syncedAt` (same version, same maps). */
export function withSyncedAt(s: Snapshot, syncedAt: number): Snapshot {
  return Object.freeze({ ...s, syncedAt });
}

export function encodeSnapshot(s: Snapshot): SnapshotJson {
  const backends: Backend[] = [];
  for (const m of s.backends.values()) backends.push(...m.values());
  const health: HealthReport[] = [];
  for (const m of s.health.values()) health.push(...m.values());
  return {
    format: SNAPSHOT_FORMAT,
    version: s.version,
    syncedAt: s.syncedAt,
    regions: [...s.regions.values()],
    backends,
    health,
  };
}

/** Compares content only (not version or syncedAt). */
export function sameContent(a: Snapshot, b: Snapshot): boolean {
  const ea = encodeSnapshot(a);
  const eb = encodeSnapshot(b);
  const key = (e: SnapshotJson) => JSON.stringify([e.regions, e.backends, e.health]);
  return key(ea) === key(eb);
}

function within<T>(field: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (isMeridianError(err) && err.code === 'E_VALIDATION') {
      const inner = err.field ?? '';
      const path = inner === '' ? field : `${field}.${inner}`;
      const detail = err.field === undefined ? err.message : err.message.slice(err.field.length + 2);
      throw invalid(path, detail);
    }
    throw err;
  }
}

function list(x: Record<string, unknown>, key: string): unknown[] {
  const v = x[key];
  if (!Array.isArray(v)) throw invalid(key, 'expected a list');
  return v;
}

/**
 * Validates and revives the JSON form. Throws E_VALIDATION naming the offending entry, e.g.
 * `regions[2].lat: expected a number in [-90, 90], got 91`.
 */
export function decodeSnapshot(j: unknown): Snapshot {
  if (typeof j !== 'object' || j === null || Array.isArray(j))
    throw invalid('snapshot', 'expected a JSON object');
  const x = j as Record<string, unknown>;
  if (x.format !== SNAPSHOT_FORMAT) {
    throw invalid('format', `expected ${SNAPSHOT_FORMAT}, got ${JSON.stringify(x.format)}`);
  }
  for (const key of ['version', 'syncedAt'] as const) {
    const v = x[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw invalid(key, `expected an integer >= 0, got ${JSON.stringify(v)}`);
    }
  }
  const b = new SnapshotBuilder(EMPTY_SNAPSHOT);
  list(x, 'regions').forEach((r, i) =>
    within(`regions[${i}]`, () => {
      const region = reviveRegion(r);
      if (b.region(region.id) !== undefined) throw invalid('id', `duplicate region ${region.id}`);
      b.setRegion(region);
    }),
  );
  const seen = new Set<string>();
  list(x, 'backends').forEach((raw, i) =>
    within(`backends[${i}]`, () => {
      const backend = reviveBackend(raw);
      if (b.region(backend.regionId) === undefined) {
        throw invalid('regionId', `region ${backend.regionId} does not exist`);
      }
      const key = `${backend.regionId}/${backend.id}`;
      if (seen.has(key)) throw invalid('id', `duplicate backend ${key}`);
      seen.add(key);
      b.setBackend(backend);
    }),
  );
  list(x, 'health').forEach((raw, i) =>
    within(`health[${i}]`, () => {
      const report = validateHealthReport(raw);
      if (b.region(report.regionId) === undefined) {
        throw invalid('regionId', `region ${report.regionId} does not exist`);
      }
      b.setHealth(report);
    }),
  );
  return b.build({ version: x.version as number, syncedAt: x.syncedAt as number });
}

/** Calls every listener; a throwing listener is reported and does not stop the others. */
export function notifyListeners(
  listeners: Iterable<ChangeListener>,
  snapshot: Snapshot,
  change: ChangeEvent,
  onError: (err: unknown) => void,
): void {
  for (const listener of [...listeners]) {
    try {
      listener(snapshot, change);
    } catch (err) {
      onError(err);
    }
  }
}

export const RESYNC_EVENT: ChangeEvent = Object.freeze({ kind: 'resync', op: 'resync' });

/**
 * A read-only store holding snapshots pushed to it (e.g. from the primary process over IPC).
 * Used by DNS worker processes: `current()`/`onChange` work, every write rejects with E_UNAVAILABLE.
 */
export class ReplicaStateStore implements StateStore {
  private snapshot: Snapshot;
  private readonly listeners = new Set<ChangeListener>();
  private upstream: StoreStatus | undefined;
  private applied = 0;
  private readonly kind: 'memory' | 'redis';
  private readonly now: () => number;
  private readonly onListenerError: (err: unknown) => void;

  constructor(
    options: {
      initial?: Snapshot;
      kind?: 'memory' | 'redis';
      now?: () => number;
      onListenerError?: (err: unknown) => void;
    } = {},
  ) {
    this.snapshot = options.initial ?? EMPTY_SNAPSHOT;
    this.kind = options.kind ?? 'memory';
    this.now = options.now ?? Date.now;
    this.onListenerError = options.onListenerError ?? (() => undefined);
  }

  /** Replaces the snapshot and notifies listeners (default change: a resync). */
  apply(snapshot: Snapshot, change: ChangeEvent = RESYNC_EVENT): void {
    this.snapshot = snapshot;
    this.applied++;
    notifyListeners(this.listeners, snapshot, change, this.onListenerError);
  }

  /** The primary's status, reported by `status()` (connected, lag, resyncs). */
  setUpstreamStatus(status: StoreStatus): void {
    this.upstream = status;
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.listeners.clear();
    return Promise.resolve();
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
    const syncedAt = this.snapshot.syncedAt;
    return {
      kind: this.upstream?.kind ?? this.kind,
      connected: this.upstream?.connected ?? this.applied > 0,
      snapshotAgeMs: syncedAt === 0 ? 0 : Math.max(0, this.now() - syncedAt),
      resyncs: this.upstream?.resyncs ?? 0,
      changeFeedLagMs: this.upstream?.changeFeedLagMs ?? 0,
    };
  }

  resync(): Promise<void> {
    return Promise.resolve();
  }

  private readOnly(): Promise<never> {
    return Promise.reject(new MeridianError('E_UNAVAILABLE', 'read-only replica: writes go to the primary'));
  }

  createRegion(_input: RegionInput): Promise<Region> {
    return this.readOnly();
  }
  updateRegion(_id: string, _patch: RegionPatch): Promise<Region> {
    return this.readOnly();
  }
  removeRegion(_id: string): Promise<void> {
    return this.readOnly();
  }
  createBackend(_regionId: string, _input: BackendInput): Promise<Backend> {
    return this.readOnly();
  }
  updateBackend(_regionId: string, _id: string, _patch: BackendPatch): Promise<Backend> {
    return this.readOnly();
  }
  removeBackend(_regionId: string, _id: string): Promise<void> {
    return this.readOnly();
  }
  reportHealth(_report: HealthReport): Promise<void> {
    return this.readOnly();
  }
}
