// Messages between the cluster primary and its DNS workers (JSON over the IPC channel).
import type { DnsConfig } from '../config/dns-schema.js';
import type { DeepReadonly } from '../config/load.js';
import type { SnapshotJson } from '../state/snapshot-codec.js';
import type { BoundAddress, ListenSpec } from './server.js';

/** Worker → primary: the message listener is installed; send the init. */
export const MSG_HELLO = 'meridian-dns:hello';
export const MSG_INIT = 'meridian-dns:init';
export const MSG_SNAPSHOT = 'meridian-dns:snapshot';
export const MSG_READY = 'meridian-dns:ready';
export const MSG_FAILED = 'meridian-dns:failed';
export const MSG_SHUTDOWN = 'meridian-dns:shutdown';
/** Primary → worker: re-read the geo databases now (a scheduled geo re-check). */
export const MSG_GEO_RECHECK = 'meridian-dns:geo-recheck';

export interface InitMessage {
  readonly type: typeof MSG_INIT;
  readonly config: DeepReadonly<DnsConfig>;
  readonly geoPaths: readonly string[];
  readonly listen: readonly ListenSpec[];
  readonly startedAt: number;
  readonly logLevel: string;
  readonly snapshot: SnapshotJson;
}

export interface SnapshotMessage {
  readonly type: typeof MSG_SNAPSHOT;
  readonly snapshot: SnapshotJson;
}

export interface ReadyMessage {
  readonly type: typeof MSG_READY;
  readonly addresses: BoundAddress[];
}

export interface FailedMessage {
  readonly type: typeof MSG_FAILED;
  readonly code: string;
  readonly message: string;
}

export interface HelloMessage {
  readonly type: typeof MSG_HELLO;
}

export interface ShutdownMessage {
  readonly type: typeof MSG_SHUTDOWN;
}

export interface GeoRecheckMessage {
  readonly type: typeof MSG_GEO_RECHECK;
}

export type PrimaryMessage = InitMessage | SnapshotMessage | ShutdownMessage | GeoRecheckMessage;
export type WorkerMessage = HelloMessage | ReadyMessage | FailedMessage;

export function isMessage<T extends { type: string }>(value: unknown, type: T['type']): value is T {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === type;
}
