// The data model shared by every tier. Pure: imports nothing.

/** Lower-case letters, digits and hyphens, 1–63 characters (a DNS label's length). */
export const ID_PATTERN = /^[a-z0-9-]{1,63}$/;

export type LifecycleState = 'active' | 'draining' | 'disabled';
export const LIFECYCLE_STATES: readonly LifecycleState[] = ['active', 'draining', 'disabled'];

export interface Region {
  readonly id: string;
  readonly name: string;
  readonly lat: number;
  readonly lon: number;
  /** ISO 3166-1 alpha-2, upper case. */
  readonly country?: string;
  /** Two-letter continent code (AF AN AS EU NA OC SA). */
  readonly continent?: string;
  readonly ipv4: readonly string[];
  readonly ipv6: readonly string[];
  readonly weight: number;
  /** Load (in-flight requests summed over the region's reporters) above which the region spills. */
  readonly capacity?: number;
  readonly state: LifecycleState;
  readonly labels: Readonly<Record<string, string>>;
  /** When true a region that never reported health counts as down instead of "unmonitored". */
  readonly requireHealth: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** What a caller supplies to create a region; the store fills in defaults and times. */
export interface RegionInput {
  id: string;
  name?: string;
  lat: number;
  lon: number;
  country?: string;
  continent?: string;
  ipv4?: string[];
  ipv6?: string[];
  weight?: number;
  capacity?: number | null;
  state?: LifecycleState;
  labels?: Record<string, string>;
  requireHealth?: boolean;
}

/** Partial update; `null` clears an optional field. */
export type RegionPatch = Partial<Omit<RegionInput, 'id' | 'country' | 'continent'>> & {
  country?: string | null;
  continent?: string | null;
};

export interface Backend {
  readonly id: string;
  readonly regionId: string;
  readonly url: string;
  readonly weight: number;
  readonly state: LifecycleState;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface BackendInput {
  id?: string;
  url: string;
  weight?: number;
  state?: LifecycleState;
}

export type BackendPatch = Partial<Omit<BackendInput, 'id'>>;

/**
 * Who makes a write through the admin API or the CLI. When a StateStore write is given one, the
 * store records an audit entry (action, target, before/after, actor, requestId) atomically with
 * the change.
 */
export interface WriteContext {
  /** A token's id (`token:config`) or a user/task name; 1-200 characters. */
  readonly actor: string;
  /** The API request id, for correlating logs and audit records; 1-200 characters. */
  readonly requestId?: string;
}

/** Per-backend health as seen by one reporting proxy. */
export interface BackendHealth {
  readonly backendId: string;
  readonly healthy: boolean;
  /** Why the backend is out (e.g. "active check failed 3x: connect ECONNREFUSED"), when it is. */
  readonly reason?: string;
}

/** One proxy's view of its region, written periodically with an expiry. */
export interface HealthReport {
  readonly regionId: string;
  readonly reporterId: string;
  readonly healthyBackends: number;
  readonly totalBackends: number;
  readonly inFlight: number;
  /** Requests per second over the last reporting interval. */
  readonly requestRate: number;
  readonly p95LatencyMs: number;
  /** Milliseconds since the epoch. */
  readonly reportedAt: number;
  /** Milliseconds since the epoch; after this the report is stale and counts as "down". */
  readonly expiresAt: number;
  readonly backends?: readonly BackendHealth[];
  /** Who votes: a proxy node (default) or a DNS node's probes (src/dns/probes). */
  readonly kind?: 'proxy' | 'probe';
  /** Since when (ms epoch) the reporter has held its current up/down view (region-verdict.ts). */
  readonly since?: number;
  /** Since when it held the opposite view before `since`. */
  readonly prevSince?: number;
}

/**
 * An immutable, synchronous view of all state. Hot paths read only this.
 * `version` increases with every applied change on this node.
 */
export interface Snapshot {
  readonly version: number;
  /** When this node last confirmed the snapshot against its source (ms epoch). */
  readonly syncedAt: number;
  readonly regions: ReadonlyMap<string, Region>;
  /** regionId → backendId → backend */
  readonly backends: ReadonlyMap<string, ReadonlyMap<string, Backend>>;
  /** regionId → reporterId → last known report (possibly expired: check `expiresAt`). */
  readonly health: ReadonlyMap<string, ReadonlyMap<string, HealthReport>>;
}

export type ChangeKind = 'region' | 'backend' | 'health' | 'resync';

export interface ChangeEvent {
  readonly kind: ChangeKind;
  readonly regionId?: string;
  readonly id?: string;
  readonly op: 'upsert' | 'delete' | 'resync';
}

export const EMPTY_SNAPSHOT: Snapshot = Object.freeze({
  version: 0,
  syncedAt: 0,
  regions: new Map(),
  backends: new Map(),
  health: new Map(),
});

/** A worker died while serving (a new one is starting), or a new one failed to start. */
export interface WorkerTrouble {
  /** 'DNS' or 'proxy' (the supervisor's `tier`). */
  readonly tier: string;
  /** The worker's number as logs give it (`naming`). */
  readonly worker: number;
  readonly what: 'died' | 'restart-failed';
  /** `signal SIGKILL`, `exit code 1`, or why the new worker did not start. */
  readonly reason: string;
  /** With `restart-failed`: when the next attempt is made (ms), or undefined when none is. */
  readonly retryMs?: number | undefined;
}
