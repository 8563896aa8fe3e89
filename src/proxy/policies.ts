// Traffic policies in node:cluster proxy workers.
//
// One mechanism whatever the policy store: the primary pushes its store's policy list to every
// worker over IPC (at start in the init message, then after every change), and each worker serves
// it from a read-only ReplicaPolicyStore, so workers neither poll Redis nor hold subscriber
// connections, and the embedded (memory) store works the same way. What a worker cannot get over
// IPC is a Redis connection: for cluster-wide rate limits and quotas the primary sends the
// connection's settings (`redisConnectInfo`, the JSON-safe part of the ioredis options) and each
// worker opens its own connection with them (`connectRedis`).
import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
import type { Policy } from '../config/policy-schema.js';
import { MeridianError, describeError } from '../core/errors.js';
import type { Logger } from '../infra/logger.js';
import type { RedisConnection } from '../infra/redis/lua-script.js';
import {
  filterPolicies,
  findPolicy,
  freezePolicies,
  notifyAll,
  type ImportResult,
  type PolicyFilter,
  type PolicyListener,
  type PolicyStore,
} from '../storage/policy-store.js';

/** A policy store fed from elsewhere (the cluster primary): reads work, writes are refused. */
export class ReplicaPolicyStore implements PolicyStore {
  readonly #listeners = new Set<PolicyListener>();
  #policies: readonly Policy[];

  constructor(
    initial: readonly Policy[],
    private readonly onListenerError: (err: unknown) => void = () => undefined,
  ) {
    this.#policies = freezePolicies(initial.map((p) => structuredClone(p)));
  }

  /** Replaces the snapshot and notifies the listeners (the policy engine recompiles). */
  apply(policies: readonly Policy[]): void {
    this.#policies = freezePolicies(policies.map((p) => structuredClone(p)));
    notifyAll(this.#listeners, this.#policies, this.onListenerError);
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#listeners.clear();
    return Promise.resolve();
  }

  current(): readonly Policy[] {
    return this.#policies;
  }

  onChange(listener: PolicyListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  list(filter?: PolicyFilter): readonly Policy[] {
    return filterPolicies(this.#policies, filter);
  }

  get(id: string): Policy {
    return findPolicy(this.#policies, id);
  }

  put(): Promise<Policy> {
    return readOnly();
  }

  update(): Promise<Policy> {
    return readOnly();
  }

  remove(): Promise<void> {
    return readOnly();
  }

  setEnabled(): Promise<Policy> {
    return readOnly();
  }

  importBatch(): Promise<ImportResult> {
    return readOnly();
  }

  exportAll(): Promise<readonly Policy[]> {
    return Promise.resolve(this.#policies);
  }
}

function readOnly(): Promise<never> {
  return Promise.reject(
    new MeridianError('E_UNAVAILABLE', 'this policy store is a read-only replica; write to the primary'),
  );
}

/** How a worker reconnects to the primary's Redis (JSON-safe). */
export type RedisConnectInfo =
  | { readonly kind: 'redis'; readonly options: Record<string, unknown> }
  | {
      readonly kind: 'cluster';
      readonly nodes: { host: string; port: number }[];
      readonly redisOptions: Record<string, unknown>;
    };

/** RedisOptions a worker may copy: plain values only (functions and sockets cannot cross IPC). */
const COPIED_OPTIONS = [
  'host',
  'port',
  'path',
  'username',
  'password',
  'db',
  'tls',
  'sentinels',
  'name',
  'role',
  'sentinelUsername',
  'sentinelPassword',
  'enableTLSForSentinelMode',
  'keyPrefix',
  'connectTimeout',
  'commandTimeout',
  'maxRetriesPerRequest',
] as const;

/** Keeps JSON-safe values: strings, numbers, booleans, and arrays/objects made of them. */
function plain(value: unknown, depth = 0): unknown {
  if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) return value;
  if (depth > 3 || typeof value !== 'object' || Buffer.isBuffer(value)) return undefined;
  if (Array.isArray(value)) return value.map((v) => plain(v, depth + 1)).filter((v) => v !== undefined);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const p = plain(v, depth + 1);
    if (p !== undefined) out[k] = p;
  }
  return out;
}

function pick(options: Partial<RedisOptions> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (options === undefined) return out;
  for (const key of COPIED_OPTIONS) {
    const v = plain((options as Record<string, unknown>)[key]);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/**
 * The settings of an ioredis connection a worker needs to open its own. TLS settings holding
 * buffers (a CA bundle) are not copied: use file paths or the system store for such setups.
 */
export function redisConnectInfo(conn: RedisConnection): RedisConnectInfo {
  if (conn instanceof Cluster) {
    const live = conn
      .nodes('master')
      .map((n) => ({ host: n.options.host ?? '127.0.0.1', port: n.options.port ?? 6379 }));
    const startup = (conn as unknown as { startupNodes?: ClusterNode[] }).startupNodes ?? [];
    const seeds = startup
      .map((n) => (typeof n === 'object' ? { host: n.host ?? '127.0.0.1', port: n.port ?? 6379 } : undefined))
      .filter((n): n is { host: string; port: number } => n !== undefined);
    return {
      kind: 'cluster',
      nodes: live.length > 0 ? live : seeds,
      redisOptions: pick(conn.options.redisOptions),
    };
  }
  return { kind: 'redis', options: pick(conn.options) };
}

/** Opens a worker's own connection from `redisConnectInfo` settings. */
export function connectRedis(info: RedisConnectInfo, logger: Logger): RedisConnection {
  const common = {
    maxRetriesPerRequest: 1,
    commandTimeout: 2000,
    connectionName: 'meridian-proxy-policy',
    retryStrategy: (times: number) => Math.min(times * 200, 2000),
  } satisfies RedisOptions;
  // The copied settings came from an ioredis client's own options, so they have its types.
  const conn: RedisConnection =
    info.kind === 'cluster'
      ? new Cluster(info.nodes, { redisOptions: { ...common, ...(info.redisOptions as typeof common) } })
      : new Redis({ ...common, ...(info.options as typeof common) });
  conn.on('error', (err: unknown) =>
    logger.debug({ err: describeError(err) }, 'policy redis connection error'),
  );
  return conn;
}
