// Messages between the cluster primary and its DNS workers (JSON over the IPC channel): the shared
// handshake, snapshots and shutdown (src/cluster/ipc.ts) under the `meridian-dns:` prefix, plus
// the geo re-check.
import { protocol } from '../cluster/ipc.js';
import type { DnsConfig } from '../config/dns-schema.js';
import type { DeepReadonly } from '../config/load.js';
import type { SnapshotJson } from '../storage/snapshot-codec.js';
import type { ListenSpec } from './transport/server.js';

export const DNS_PROTOCOL = protocol('meridian-dns');
/** Primary → worker: re-read the geo databases now (a scheduled geo re-check). */
export const MSG_GEO_RECHECK = 'meridian-dns:geo-recheck';

export interface InitMessage {
  readonly type: typeof DNS_PROTOCOL.init;
  readonly config: DeepReadonly<DnsConfig>;
  readonly geoPaths: readonly string[];
  readonly listen: readonly ListenSpec[];
  readonly startedAt: number;
  readonly logLevel: string;
  readonly snapshot: SnapshotJson;
}

export interface GeoRecheckMessage {
  readonly type: typeof MSG_GEO_RECHECK;
}

/** Primary → worker messages besides the shared ones. */
export type PrimaryMessage = GeoRecheckMessage;
