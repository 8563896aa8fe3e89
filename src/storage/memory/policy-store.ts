// The embedded policy store: a Map in memory, persisted (when given a file) as JSON written to a
// temporary file and renamed over the old one, so a crash leaves either the old or the new file.
// Writes are serialised; a failed write (validation or disk) changes nothing.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MeridianError, describeError } from '../../core/errors.js';
import { parsePolicy } from '../../config/policy-schema.js';
import { silentLogger, type Logger } from '../../infra/logger.js';
import { PRIVATE_FILE_MODE, restrictToOwner } from './private-file.js';
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

interface FileFormat {
  readonly version: 1;
  readonly policies: readonly Policy[];
}

export class MemoryPolicyStore implements PolicyStore {
  readonly #file: string | undefined;
  readonly #logger: Logger;
  readonly #listeners = new Set<PolicyListener>();
  #policies: readonly Policy[] = freezePolicies([]);
  #queue: Promise<unknown> = Promise.resolve();
  #tmpCounter = 0;

  constructor(options: MemoryPolicyStoreOptions = {}) {
    this.#file = options.file;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'policy-store' });
  }

  async start(): Promise<void> {
    if (this.#file === undefined) return;
    await restrictToOwner(this.#file, this.#logger);
    let text: string;
    try {
      text = await readFile(this.#file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new MeridianError('E_CONFIG', `cannot read policy file ${this.#file}: ${describeError(err)}`);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new MeridianError('E_CONFIG', `${this.#file}: invalid JSON: ${describeError(err)}`);
    }
    const list = (doc as Partial<FileFormat> | null)?.policies;
    if (!Array.isArray(list))
      throw new MeridianError('E_CONFIG', `${this.#file}: expected {"version":1,"policies":[...]}`);
    try {
      this.#policies = freezePolicies(list.map((p, i) => parsePolicy(p, `policies[${i}]`)));
    } catch (err) {
      throw new MeridianError('E_CONFIG', `${this.#file}: ${describeError(err)}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    await this.#queue.catch(() => undefined);
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
    const run = async (): Promise<T> => {
      const { next, result } = change(this.#policies);
      const snapshot = freezePolicies(next);
      await this.#persist(snapshot);
      this.#policies = snapshot;
      notifyAll(this.#listeners, snapshot, (err) =>
        this.#logger.error({ err }, 'policy change listener failed'),
      );
      return result;
    };
    const p = this.#queue.then(run, run);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  async #persist(policies: readonly Policy[]): Promise<void> {
    if (this.#file === undefined) return;
    const doc: FileFormat = { version: 1, policies };
    const tmp = `${this.#file}.${process.pid}.${++this.#tmpCounter}.tmp`;
    try {
      await mkdir(dirname(this.#file), { recursive: true });
      await writeFile(tmp, `${JSON.stringify(doc, null, 2)}\n`, { mode: PRIVATE_FILE_MODE });
      await rename(tmp, this.#file);
    } catch (err) {
      throw new MeridianError(
        'E_UNAVAILABLE',
        `cannot write policy file ${this.#file}: ${describeError(err)}`,
        { cause: err },
      );
    }
  }
}
