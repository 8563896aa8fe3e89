// The DNS tier's public types: what `meridian serve` passes in and gets back. Kept apart from
// index.ts so the clustered tier (cluster.ts) can name them without an import cycle.
import type { Registry } from 'prom-client';
import type { WorkerTrouble } from '../core/types.js';
import type { DnsConfig } from '../config/dns-schema.js';
import type { SecretsConfig } from '../config/secrets-schema.js';
import type { DeepReadonly } from '../config/load.js';
import type { Logger } from '../infra/logger.js';
import type { StateStore } from '../storage/state-store.js';
import type { ZoneStore } from '../storage/zone-store.js';
import type { ExplainQuery, ExplainResult } from './answer/explain.js';
import type { BoundAddress } from './transport/server.js';

export interface StartDnsOptions {
  readonly config: DeepReadonly<DnsConfig>;
  readonly resolvePath: (p: string) => string;
  readonly store: StateStore;
  /**
   * Where the zones come from, followed live (every answering process rebuilds its zones on a
   * change); without it the tier serves `config.zones` as they are.
   */
  readonly zones?: ZoneSource;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly startedAt: number;
  /** Told when a geo database fails to reload (alerts); the old database keeps serving. */
  readonly onGeoReloadError?: (path: string, err: unknown) => void;
  /** Told when a worker dies while serving or its replacement fails to start (alerts). */
  readonly onWorkerTrouble?: (trouble: WorkerTrouble) => void;
  /**
   * Where the node key ring comes from (the config's `secrets:` and the environment): every
   * process that compiles zones opens the signed zones' DNSSEC private keys with it.
   */
  readonly secrets?: DeepReadonly<SecretsConfig> | undefined;
}

/** What the DNS tier reads of the zone store. */
export type ZoneSource = Pick<ZoneStore, 'current' | 'onChange'>;

export interface DnsService {
  /** Whether queries are answered by node:cluster workers (metrics then come from `dnsMetrics`). */
  readonly clustered: boolean;
  close(): Promise<void>;
  /** The bound sockets (real ports, also when the config said port 0). */
  addresses(): BoundAddress[];
  /** The steering decision for a name and client, computed afresh. E_NOT_FOUND / E_VALIDATION. */
  explain(q: ExplainQuery): ExplainResult;
  /** The DNS metrics in Prometheus text format (aggregated over the workers in cluster mode). */
  dnsMetrics(): Promise<string>;
  /** Re-reads the geo databases now (every worker too); rejects if one fails to load. */
  recheckGeo(): Promise<void>;
}
