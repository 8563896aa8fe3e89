// Traffic policies in node:cluster proxy workers.
//
// One mechanism whatever the policy store: the primary pushes its store's policy list to every
// worker over IPC (at start in the init message, then after every change), and each worker serves
// it from a read-only ReplicaPolicyStore, so workers neither poll Redis nor hold subscriber
// connections, and the embedded (memory) store works the same way. What a worker cannot get over
// IPC is a Redis connection: for cluster-wide rate limits and quotas the primary sends the
// connection's settings (`redisConnectInfo`: the JSON-safe settings of the one Redis factory,
// infra/redis/connection.ts) and each worker opens its own connection with them (`connectRedis`).
import type { Policy } from '../config/policy-schema.js';
import { MeridianError } from '../core/errors.js';
import type { Logger } from '../infra/logger.js';
import {
  connectionSettings,
  openRedis,
  type RedisConnection,
  type RedisSettings,
} from '../infra/redis/connection.js';
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

/** How a worker reconnects to the primary's Redis: the shared factory's JSON-safe settings. */
export type RedisConnectInfo = RedisSettings;

/** The settings of the primary's connection, sent to each worker over IPC. */
export function redisConnectInfo(conn: RedisConnection): RedisConnectInfo {
  return connectionSettings(conn);
}

/** Opens a worker's own connection (same factory as every store) from `redisConnectInfo` settings. */
export function connectRedis(info: RedisConnectInfo, logger: Logger): RedisConnection {
  return openRedis(info, { name: 'proxy-worker', profile: 'queued', logger });
}
