// Messages between the cluster primary and its proxy workers (JSON over the IPC channel). The
// `meridian-proxy:` prefix keeps them apart from the DNS tier's and prom-client's messages, which
// may share the same primary.
import type { DeepReadonly } from '../config/load.js';
import type { Policy, QuotaPeriod } from '../config/policy-schema.js';
import type { ProxyConfig } from '../config/proxy-schema.js';
import type { HealthReport } from '../core/types.js';
import type { SnapshotJson } from '../state/snapshot-codec.js';
import type { ProxyAddress } from './index.js';
import type { RedisConnectInfo } from './policies.js';

/** Worker → primary: the message listener is installed; send the init. */
export const MSG_HELLO = 'meridian-proxy:hello';
export const MSG_INIT = 'meridian-proxy:init';
export const MSG_SNAPSHOT = 'meridian-proxy:snapshot';
/** Primary → worker: the traffic policies changed (the whole list). */
export const MSG_POLICIES = 'meridian-proxy:policies';
export const MSG_READY = 'meridian-proxy:ready';
export const MSG_FAILED = 'meridian-proxy:failed';
/** Worker → primary: a region health report to write to the store; answered by MSG_REPORT_DONE. */
export const MSG_REPORT = 'meridian-proxy:report';
export const MSG_REPORT_DONE = 'meridian-proxy:report-done';
export const MSG_METRICS = 'meridian-proxy:metrics';
export const MSG_METRICS_DONE = 'meridian-proxy:metrics-done';
/** Primary → worker: stop accepting, finish in-flight requests within `graceMs`, report, exit. */
export const MSG_SHUTDOWN = 'meridian-proxy:shutdown';

export interface InitMessage {
  readonly type: typeof MSG_INIT;
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

export interface SnapshotMessage {
  readonly type: typeof MSG_SNAPSHOT;
  readonly snapshot: SnapshotJson;
}

export interface ReadyMessage {
  readonly type: typeof MSG_READY;
  readonly addresses: ProxyAddress[];
}

export interface FailedMessage {
  readonly type: typeof MSG_FAILED;
  readonly code: string;
  readonly message: string;
}

export interface HelloMessage {
  readonly type: typeof MSG_HELLO;
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

export interface MetricsMessage {
  readonly type: typeof MSG_METRICS;
  readonly id: number;
}

export interface MetricsDoneMessage {
  readonly type: typeof MSG_METRICS_DONE;
  readonly id: number;
  /** `registry.getMetricsAsJSON()` of the worker. */
  readonly metrics?: unknown[];
  readonly error?: string;
}

export interface ShutdownMessage {
  readonly type: typeof MSG_SHUTDOWN;
  readonly graceMs: number;
}

export type PrimaryMessage =
  InitMessage | SnapshotMessage | PoliciesMessage | ReportDoneMessage | MetricsMessage | ShutdownMessage;
export type WorkerMessage = HelloMessage | ReadyMessage | FailedMessage | ReportMessage | MetricsDoneMessage;

export function isMessage<T extends { type: string }>(value: unknown, type: T['type']): value is T {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === type;
}
