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
  // The fields below are reported by stores with a remote source of truth (Redis); a store that
  // leaves them out is never degraded.
  /** Why this node's state may be out of date or cannot be changed; empty or absent when all is well. */
  readonly degraded?: readonly string[];
  /**
   * Since when (ms epoch) health reports are frozen: the store is unreachable or lost its data, so
   * reports valid at that time stay valid (nobody can refresh them) until it is back.
   */
  readonly healthFrozenSince?: number;
  /** Milliseconds since this node's last write was accepted by the store (absent: none yet). */
  readonly lastWriteAgeMs?: number;
  /** Writes (health reports included) that failed because the store could not be reached. */
  readonly failedWrites?: number;
  /** The store lost the fleet's data (its epoch marker is missing or foreign): see `reseed`. */
  readonly dataLost?: DataLoss;
}

export interface DataLoss {
  /** When this node noticed (ms epoch). */
  readonly since: number;
  /** The epoch this node's snapshot belongs to. */
  readonly expectedEpoch: string;
  /** The epoch the store holds now ('' = none: it is empty). */
  readonly foundEpoch: string;
}

export interface ReseedResult {
  /** The new epoch written with the snapshot. */
  readonly epoch: string;
  readonly regions: number;
  readonly backends: number;
  readonly healthReports: number;
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

  /**
   * Writes this node's snapshot back to the shared store under a new epoch (after the store lost its
   * data); the other nodes accept it as the continuation of theirs. Without `force`, refused with
   * E_CONFLICT unless the store did lose its data. Stores without a shared source leave it out.
   */
  reseed?(options?: { force?: boolean }): Promise<ReseedResult>;
}
