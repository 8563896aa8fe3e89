// Messages between the cluster primary and its DNS workers (JSON over the IPC channel, or
// structured clones to threads): the shared
// handshake, snapshots and shutdown (src/cluster/ipc.ts) under the `meridian-dns:` prefix, plus
// the geo re-check and the zones (pushed on every zone store change).
import { protocol } from '../cluster/ipc.js';
import type { DnsConfig, ZoneConfig } from '../config/dns-schema.js';
import type { DeepReadonly } from '../config/load.js';
import type { SecretsConfig } from '../config/secrets-schema.js';
import type { SnapshotJson } from '../storage/snapshot-codec.js';
import type { ListenSpec } from './transport/server.js';

export const DNS_PROTOCOL = protocol('meridian-dns');
/** Primary → worker: re-read the geo databases now (a scheduled geo re-check). */
export const MSG_GEO_RECHECK = 'meridian-dns:geo-recheck';
/** Primary → worker: serve these zones from now on. */
export const MSG_ZONES = 'meridian-dns:zones';

export interface InitMessage {
  readonly type: typeof DNS_PROTOCOL.init;
  readonly config: DeepReadonly<DnsConfig>;
  readonly geoPaths: readonly string[];
  readonly listen: readonly ListenSpec[];
  /** How many workers bind the listen ports (their UDP sockets share each port). */
  readonly workers: number;
  /** Thread workers: each opens its own SO_REUSEPORT TCP listener (processes share the primary's). */
  readonly tcpReusePort: boolean;
  readonly startedAt: number;
  readonly logLevel: string;
  readonly snapshot: SnapshotJson;
  /** The zones to serve at first. */
  readonly zones: readonly DeepReadonly<ZoneConfig>[];
  /** The key ring's source (key file path resolved), so the worker opens DNSSEC keys itself; env is inherited. */
  readonly secrets: DeepReadonly<SecretsConfig> | undefined;
}

export interface ZonesMessage {
  readonly type: typeof MSG_ZONES;
  readonly zones: readonly DeepReadonly<ZoneConfig>[];
}

export interface GeoRecheckMessage {
  readonly type: typeof MSG_GEO_RECHECK;
}

/** Primary → worker messages besides the shared ones. */
export type PrimaryMessage = GeoRecheckMessage | ZonesMessage;
