// The messages every clustered tier exchanges between its primary and its workers (JSON over the
// IPC channel, or structured clones between threads): the hello → init → ready (or failed)
// handshake, snapshots, metrics requests, shutdown. Each tier has its own prefix, which keeps its
// messages apart from the other tier's, since both tiers may share one primary; tier-only messages
// are declared in the tier's ipc.ts.
import type { SnapshotJson } from '../storage/snapshot-codec.js';

/** The type strings of the shared messages, under one tier's prefix. */
export interface Protocol<P extends string = string> {
  /** Worker → primary: the message listener is installed; send the init. */
  readonly hello: `${P}:hello`;
  readonly init: `${P}:init`;
  readonly snapshot: `${P}:snapshot`;
  readonly ready: `${P}:ready`;
  readonly failed: `${P}:failed`;
  readonly shutdown: `${P}:shutdown`;
  /** Primary → worker: send your metrics (prom-client's JSON form). */
  readonly metrics: `${P}:metrics`;
  readonly metricsDone: `${P}:metrics-done`;
}

export function protocol<P extends string>(prefix: P): Protocol<P> {
  return {
    hello: `${prefix}:hello`,
    init: `${prefix}:init`,
    snapshot: `${prefix}:snapshot`,
    ready: `${prefix}:ready`,
    failed: `${prefix}:failed`,
    shutdown: `${prefix}:shutdown`,
    metrics: `${prefix}:metrics`,
    metricsDone: `${prefix}:metrics-done`,
  };
}

/** What every tier's init carries besides its own settings. */
export interface WorkerInit {
  readonly type: string;
  readonly logLevel: string;
  readonly snapshot: SnapshotJson;
}

export interface HelloMessage {
  readonly type: string;
}

export interface SnapshotMessage {
  readonly type: string;
  readonly snapshot: SnapshotJson;
}

export interface ReadyMessage<A> {
  readonly type: string;
  readonly addresses: A[];
}

export interface FailedMessage {
  readonly type: string;
  readonly code: string;
  readonly message: string;
}

export interface ShutdownMessage {
  readonly type: string;
  /** Proxy: finish in-flight requests within this long. The DNS tier sends none. */
  readonly graceMs?: number;
}

export interface MetricsMessage {
  readonly type: string;
  readonly id: number;
}

export interface MetricsDoneMessage {
  readonly type: string;
  readonly id: number;
  /** prom-client's getMetricsAsJSON(); absent with `error`. */
  readonly metrics?: readonly unknown[];
  readonly error?: string;
}

export function isMessage<T extends { type: string }>(value: unknown, type: T['type']): value is T {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === type;
}
