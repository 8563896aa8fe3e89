// Messages between the cluster primary and its proxy workers (JSON over the IPC channel): the
// shared handshake, snapshots and shutdown (src/cluster/ipc.ts) under the `meridian-proxy:` prefix,
// which keeps them apart from the DNS tier's and prom-client's messages that may share the same
// primary, plus policies, reports and metrics.
import { protocol } from '../cluster/ipc.js';
import type { DeepReadonly } from '../config/load.js';
import type { Policy, QuotaPeriod } from '../config/policy-schema.js';
import type { ProxyConfig } from '../config/proxy-schema.js';
import type { HealthReport } from '../core/types.js';
import type { SnapshotJson } from '../storage/snapshot-codec.js';
import type { RedisConnectInfo } from './policies.js';

/** Its shutdown carries `graceMs`: stop accepting, finish in-flight requests within it, report, exit. */
export const PROXY_PROTOCOL = protocol('meridian-proxy');
/** Primary → worker: the traffic policies changed (the whole list). */
export const MSG_POLICIES = 'meridian-proxy:policies';
/** Worker → primary: a region health report to write to the store; answered by MSG_REPORT_DONE. */
export const MSG_REPORT = 'meridian-proxy:report';
export const MSG_REPORT_DONE = 'meridian-proxy:report-done';

export interface InitMessage {
  readonly type: typeof PROXY_PROTOCOL.init;
  /** Listen ports resolved (never 0) and TLS paths absolute. */
  readonly config: DeepReadonly<ProxyConfig>;
  readonly reporterId: string;
  readonly slot: number;
  readonly logLevel: string;
  readonly snapshot: SnapshotJson;
  /** Present when the proxy enforces traffic policies. */
  readonly policies?: WorkerPolicies;
}

/** What a worker needs to run its own policy engine. */
export interface WorkerPolicies {
  readonly list: readonly Policy[];
  readonly keyPrefix: string;
  /** Present when cluster-wide limits count in Redis: the worker opens its own connection. */
  readonly redis?: RedisConnectInfo;
  readonly quotaPeriodMs?: Partial<Record<QuotaPeriod, number>>;
}

export interface PoliciesMessage {
  readonly type: typeof MSG_POLICIES;
  readonly policies: readonly Policy[];
}

export interface ReportMessage {
  readonly type: typeof MSG_REPORT;
  readonly id: number;
  readonly report: HealthReport;
}

export interface ReportDoneMessage {
  readonly type: typeof MSG_REPORT_DONE;
  readonly id: number;
  readonly error?: string;
}

/** Primary → worker messages besides the shared ones. */
export type PrimaryMessage = PoliciesMessage | ReportDoneMessage;
