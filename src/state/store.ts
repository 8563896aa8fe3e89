// The StateStore contract. Two implementations (memory.ts, redis.ts) pass one shared contract
// suite (test/state/contract.ts). Consumers on hot paths call only `current()`.
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

export type ChangeListener = (snapshot: Snapshot, change: ChangeEvent) => void;

export interface StoreStatus {
  readonly kind: 'memory' | 'redis';
  /** Whether writes can currently reach the source of truth. */
  readonly connected: boolean;
  /** Milliseconds since the snapshot was last confirmed against the source. */
  readonly snapshotAgeMs: number;
  readonly resyncs: number;
  /** Milliseconds between a change being published and this node applying it (last seen). */
  readonly changeFeedLagMs: number;
}

export interface StateStore {
  /** Loads the initial snapshot and subscribes to changes. Resolves once `current()` is usable. */
  start(): Promise<void>;
  close(): Promise<void>;

  /** The latest snapshot. Synchronous, never touches the network. */
  current(): Snapshot;
  /** Called after every applied change (local or remote). Returns an unsubscribe function. */
  onChange(listener: ChangeListener): () => void;
  status(): StoreStatus;
  /** Reloads everything from the source of truth. */
  resync(): Promise<void>;

  // Writes: validated (throwing MeridianError E_VALIDATION/E_NOT_FOUND/E_CONFLICT/E_UNAVAILABLE),
  // atomic, and visible in this node's `current()` when the promise resolves.
  createRegion(input: RegionInput): Promise<Region>;
  updateRegion(id: string, patch: RegionPatch): Promise<Region>;
  /** Removes the region with its backends and health reports. */
  removeRegion(id: string): Promise<void>;

  createBackend(regionId: string, input: BackendInput): Promise<Backend>;
  updateBackend(regionId: string, id: string, patch: BackendPatch): Promise<Backend>;
  removeBackend(regionId: string, id: string): Promise<void>;

  /** Records one reporter's view of a region. Unknown region → E_NOT_FOUND. */
  reportHealth(report: HealthReport): Promise<void>;
}
