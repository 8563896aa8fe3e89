// The PolicyStore contract and the logic both implementations share. Two implementations
// (MemoryPolicyStore, RedisPolicyStore) pass one contract suite (test/policy/store-contract.ts).
// The proxy's hot path reads only `current()`, a synchronous immutable snapshot.
import { conflict, invalid, notFound } from '../core/errors.js';
import { cidrContains, ipToBytes, parseCidr, unmapIPv4 } from '../core/ip.js';
import {
  parsePolicy,
  POLICY_TYPES,
  type Policy,
  type PolicyType,
  type QuotaPeriod,
} from '../config/policy-schema.js';
import { deepFreeze } from '../core/freeze.js';

export type { Policy, PolicyType };

/** A quota's usage for one client key in the current period, as the admin API reports it. */
export interface QuotaUsage {
  readonly policyId: string;
  readonly key: string;
  readonly period: QuotaPeriod;
  readonly limit: number;
  readonly used: number;
  readonly remaining: number;
  readonly periodStart: string;
  readonly resetAt: string;
  readonly resetInSeconds: number;
  /** `cluster` when counted in Redis, `local` when counted by this process only. */
  readonly counting: 'cluster' | 'local';
}

export interface PolicyFilter {
  readonly type?: PolicyType;
  /** Policies in force in this region: its own and the global ones. */
  readonly region?: string;
  readonly enabled?: boolean;
  /**
   * An IP address: WAF policies with a `client_ip` rule whose CIDR contains it. Anything else: a
   * client key spelling (`client_ip`, `header:x-api-key`, `label:x-tenant`, …): the limits keyed by it.
   */
  readonly client?: string;
}

export type PolicyListener = (policies: readonly Policy[]) => void;

export interface ImportOptions {
  /** Remove every stored policy the batch does not name (default: keep them). */
  readonly replace?: boolean;
}

export interface ImportResult {
  readonly created: number;
  readonly updated: number;
  readonly removed: number;
  readonly total: number;
}

export interface PolicyStore {
  /** Loads the policies and subscribes to changes. Resolves once `current()` is usable. */
  start(): Promise<void>;
  close(): Promise<void>;
  /** All policies, sorted by id, deep-frozen. Synchronous, never touches the network. */
  current(): readonly Policy[];
  /** Called after every applied change (local or remote) with the new snapshot. Returns an unsubscribe. */
  onChange(listener: PolicyListener): () => void;
  list(filter?: PolicyFilter): readonly Policy[];
  /** Throws E_NOT_FOUND. */
  get(id: string): Policy;

  // Writes: validated (E_VALIDATION with the offending field), atomic, and visible in this node's
  // `current()` when the promise resolves; every other node sees them within about a second.
  /** Creates a policy; E_CONFLICT when the id exists. */
  put(input: unknown): Promise<Policy>;
  /** Merges top-level fields into the policy (`rules` is replaced whole); `id` and `type` cannot change. */
  update(id: string, patch: unknown): Promise<Policy>;
  remove(id: string): Promise<void>;
  setEnabled(id: string, enabled: boolean): Promise<Policy>;
  /**
   * Creates or replaces every entry, all or nothing: one invalid entry (or a duplicate id) rejects
   * the whole batch with E_VALIDATION naming `policies[<index>].<field>`, and nothing changes.
   */
  importBatch(policies: readonly unknown[], options?: ImportOptions): Promise<ImportResult>;
  /** Every policy, read from the source of truth, in the form `importBatch` accepts. */
  exportAll(): Promise<readonly Policy[]>;
  /** Shared stores: whether the shared copy lost the policies this node keeps enforcing. */
  dataLost?(): boolean;
  /** Shared stores: writes this node's policies back after a loss (0 when nothing was lost). */
  reseed?(): Promise<number>;
}

/** An immutable snapshot, sorted by id. */
export function freezePolicies(policies: Iterable<Policy>): readonly Policy[] {
  const list = [...policies].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const p of list) deepFreeze(p);
  return Object.freeze(list);
}

export function findPolicy(policies: readonly Policy[], id: string): Policy {
  const found = policies.find((p) => p.id === id);
  if (found === undefined) throw notFound(`policy ${id}`);
  return found;
}

/** Validates a new policy for `put`. */
export function validateNew(input: unknown, existing: readonly Policy[]): Policy {
  const policy = parsePolicy(input);
  if (existing.some((p) => p.id === policy.id)) throw conflict(`policy ${policy.id}`);
  return policy;
}

/** The policy after `patch`, validated as a whole. */
export function applyPatch(existing: Policy, patch: unknown): Policy {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch))
    throw invalid('body', 'expected a JSON object');
  const p = patch as Record<string, unknown>;
  if (p.id !== undefined && p.id !== existing.id) throw invalid('id', 'cannot be changed');
  if (p.type !== undefined && p.type !== existing.type)
    throw invalid('type', 'cannot be changed (remove and add the policy)');
  return parsePolicy({ ...structuredClone(existing), ...p });
}

/** Validates a whole import batch before anything is written. */
export function validateBatch(entries: readonly unknown[]): Policy[] {
  if (!Array.isArray(entries)) throw invalid('policies', 'expected a list of policies');
  const seen = new Map<string, number>();
  return entries.map((entry, i) => {
    const policy = parsePolicy(entry, `policies[${i}]`);
    const first = seen.get(policy.id);
    if (first !== undefined)
      throw invalid(`policies[${i}].id`, `duplicate id ${policy.id} (also policies[${first}])`);
    seen.set(policy.id, i);
    return policy;
  });
}

function keyOf(p: Policy): string | undefined {
  return p.type === 'waf' ? undefined : p.key;
}

export function filterPolicies(policies: readonly Policy[], filter: PolicyFilter = {}): readonly Policy[] {
  if (filter.type !== undefined && !POLICY_TYPES.includes(filter.type)) {
    throw invalid('type', `expected one of ${POLICY_TYPES.join(', ')}`);
  }
  const clientBytes = filter.client === undefined ? undefined : ipToBytes(unmapIPv4(filter.client));
  return policies.filter((p) => {
    if (filter.type !== undefined && p.type !== filter.type) return false;
    if (filter.region !== undefined && p.scope !== 'global' && p.scope !== filter.region) return false;
    if (filter.enabled !== undefined && p.enabled !== filter.enabled) return false;
    if (filter.client !== undefined) {
      if (clientBytes === undefined) return keyOf(p) === filter.client;
      if (p.type !== 'waf') return false;
      return p.rules.some(
        (r) =>
          r.target === 'client_ip' &&
          r.pattern.split(',').some((part) => {
            const cidr = parseCidr(part.trim());
            return cidr !== undefined && cidrContains(cidr, clientBytes);
          }),
      );
    }
    return true;
  });
}

/** Calls each listener, isolating failures so one bad listener cannot break the others. */
export function notifyAll(
  listeners: Iterable<PolicyListener>,
  policies: readonly Policy[],
  onError: (err: unknown) => void,
): void {
  for (const l of listeners) {
    try {
      l(policies);
    } catch (err) {
      onError(err);
    }
  }
}
