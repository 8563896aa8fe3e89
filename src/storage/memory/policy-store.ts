// The embedded policy store: the policies in memory, persisted (when given a file) by
// RecordListFile (atomic rewrites, mode 0600, one change at a time; a failed change — validation
// or disk — changes nothing).
import { parsePolicy } from '../../config/policy-schema.js';
import { silentLogger, type Logger } from '../../infra/logger.js';
import { RecordListFile } from './record-list-file.js';
import {
  applyPatch,
  filterPolicies,
  findPolicy,
  freezePolicies,
  notifyAll,
  validateBatch,
  validateNew,
  type ImportOptions,
  type ImportResult,
  type Policy,
  type PolicyFilter,
  type PolicyListener,
  type PolicyStore,
} from '../policy-store.js';

export interface MemoryPolicyStoreOptions {
  /** JSON file to load at start and rewrite after every change; omit for a purely in-memory store. */
  readonly file?: string;
  readonly logger?: Logger;
}

export class MemoryPolicyStore implements PolicyStore {
  readonly #logger: Logger;
  readonly #listeners = new Set<PolicyListener>();
  readonly #records: RecordListFile<Policy>;
  #policies: readonly Policy[] = freezePolicies([]);

  constructor(options: MemoryPolicyStoreOptions = {}) {
    this.#logger = (options.logger ?? silentLogger).child({ component: 'policy-store' });
    this.#records = new RecordListFile({
      file: options.file,
      key: 'policies',
      noun: 'policy',
      logger: this.#logger,
    });
  }

  async start(): Promise<void> {
    const policies = await this.#records.load(parsePolicy);
    if (policies !== undefined) this.#policies = freezePolicies(policies);
  }

  async close(): Promise<void> {
    await this.#records.settled();
    this.#listeners.clear();
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

  put(input: unknown): Promise<Policy> {
    return this.#write((current) => {
      const policy = validateNew(input, current);
      return { next: [...current, policy], result: policy };
    });
  }

  update(id: string, patch: unknown): Promise<Policy> {
    return this.#write((current) => {
      const policy = applyPatch(findPolicy(current, id), patch);
      return { next: current.map((p) => (p.id === id ? policy : p)), result: policy };
    });
  }

  remove(id: string): Promise<void> {
    return this.#write((current) => {
      findPolicy(current, id);
      return { next: current.filter((p) => p.id !== id), result: undefined };
    });
  }

  setEnabled(id: string, enabled: boolean): Promise<Policy> {
    return this.update(id, { enabled });
  }

  importBatch(entries: readonly unknown[], options: ImportOptions = {}): Promise<ImportResult> {
    return this.#write((current) => {
      const batch = validateBatch(entries);
      const ids = new Set(batch.map((p) => p.id));
      const before = new Set(current.map((p) => p.id));
      const kept = options.replace === true ? [] : current.filter((p) => !ids.has(p.id));
      const created = batch.filter((p) => !before.has(p.id)).length;
      const removed = options.replace === true ? current.filter((p) => !ids.has(p.id)).length : 0;
      return {
        next: [...kept, ...batch],
        result: { created, updated: batch.length - created, removed, total: kept.length + batch.length },
      };
    });
  }

  exportAll(): Promise<readonly Policy[]> {
    return Promise.resolve(this.#policies);
  }

  /** Runs one change after the previous ones: compute, persist, then publish the snapshot. */
  #write<T>(change: (current: readonly Policy[]) => { next: Policy[]; result: T }): Promise<T> {
    return this.#records.serial(async () => {
      const { next, result } = change(this.#policies);
      const snapshot = freezePolicies(next);
      await this.#records.write(snapshot);
      this.#policies = snapshot;
      notifyAll(this.#listeners, snapshot, (err) =>
        this.#logger.error({ err }, 'policy change listener failed'),
      );
      return result;
    });
  }
}
