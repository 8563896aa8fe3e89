// The StateStore contract. Two implementations (memory/state-store.ts, redis/state-store.ts) pass one
// shared contract suite (test/storage/state-store-contract.ts). Consumers on hot paths call only `current()`.
//
// Audited writes: the six region/backend writes take an optional `WriteContext` (who, which
// request). With one, the store builds the audit entry (see audit.ts) and commits it atomically
// with the change: Redis appends it to the audit stream in the write's own Lua script; the memory
// store writes it into the state file's `auditOutbox` in the same atomic rename and then hands it
// to the sink given to `attachAuditSink` (see memory/state-store.ts). A write that fails records nothing.
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
  WriteContext,
} from '../core/types.js';
import type { AuditEntry } from './ops-record-store.js';

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

/** An audit entry committed with a write, waiting in the memory store's outbox for delivery. */
export interface AuditOutboxEntry {
  /** Stable, assigned when the write commits: delivery is idempotent on it (it is the idempotency key). */
  readonly id: string;
  /** When the write committed (ms epoch). */
  readonly time: number;
  readonly entry: AuditEntry;
}

/** Receives committed audit entries; resolving means the entry is durably recorded. */
export type AuditSink = (item: AuditOutboxEntry) => Promise<void>;

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
  // With a `context`, the write is audited atomically (see the top of this file); an invalid
  // context (empty or over-long actor/requestId) is rejected with E_VALIDATION before anything changes.
  createRegion(input: RegionInput, context?: WriteContext): Promise<Region>;
  updateRegion(id: string, patch: RegionPatch, context?: WriteContext): Promise<Region>;
  /** Removes the region with its backends and health reports. */
  removeRegion(id: string, context?: WriteContext): Promise<void>;

  createBackend(regionId: string, input: BackendInput, context?: WriteContext): Promise<Backend>;
  updateBackend(regionId: string, id: string, patch: BackendPatch, context?: WriteContext): Promise<Backend>;
  removeBackend(regionId: string, id: string, context?: WriteContext): Promise<void>;

  /**
   * Where committed audit entries go (memory store only: Redis records them itself). Entries
   * committed before a sink is attached, or left over from a crash, are delivered once it is.
   */
  attachAuditSink?(sink: AuditSink): void;

  /** Records one reporter's view of a region. Unknown region → E_NOT_FOUND. */
  reportHealth(report: HealthReport): Promise<void>;
}
