// The embedded single-node StateStore. The in-memory snapshot is the source of truth; with a
// `file` it is persisted atomically (temp file in the same folder + fsync + rename) after every
// region/backend write, and health reports are persisted debounced, so a restart keeps both the
// registrations and the last known health.
//
// Writes are serialised through one promise chain: validation, the conflict check, persisting and
// publishing the new snapshot happen one write at a time, so two concurrent creates of the same id
// give one success and one E_CONFLICT.
import { mkdir, open, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type {
  Backend,
  BackendInput,
  BackendPatch,
  ChangeEvent,
  HealthReport,
  Region,
  RegionInput,
  RegionPatch,
  Snapshot,
} from '../core/types.js';
import { EMPTY_SNAPSHOT } from '../core/types.js';
import { MeridianError, describeError, notFound, conflict } from '../core/errors.js';
import { assertId } from '../core/validate.js';
import { silentLogger, type Logger } from '../log/logger.js';
import type { ChangeListener, StateStore, StoreStatus } from './store.js';
import {
  buildBackend,
  buildRegion,
  isPrunable,
  patchBackend,
  patchRegion,
  validateHealthReport,
} from './records.js';
import {
  RESYNC_EVENT,
  SnapshotBuilder,
  decodeSnapshot,
  encodeSnapshot,
  notifyListeners,
  withSyncedAt,
} from './snapshot-codec.js';

export interface MemoryStateStoreOptions {
  /** JSON file to persist to; without one the state lives only in memory. */
  file?: string;
  logger?: Logger;
  /** Clock (ms epoch), for tests. */
  now?: () => number;
  /** Delay before health reports are written to the file (default 1000 ms). */
  healthFlushMs?: number;
}

const PRUNE_INTERVAL_MS = 60 * 60 * 1000;

export class MemoryStateStore implements StateStore {
  private snapshot: Snapshot = EMPTY_SNAPSHOT;
  private readonly listeners = new Set<ChangeListener>();
  private readonly file: string | undefined;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly healthFlushMs: number;
  /** Tail of the write chain; every write and every file write runs after the previous one. */
  private chain: Promise<void> = Promise.resolve();
  private started = false;
  private closed = false;
  private resyncs = 0;
  private healthFlushTimer: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  /** Whether the file lags the snapshot (health written but not yet persisted). */
  private dirty = false;

  constructor(options: MemoryStateStoreOptions = {}) {
    this.file = options.file;
    this.logger = (options.logger ?? silentLogger).child({ component: 'state', store: 'memory' });
    this.now = options.now ?? Date.now;
    this.healthFlushMs = options.healthFlushMs ?? 1000;
  }

  async start(): Promise<void> {
    if (this.started) return;
    if (this.file !== undefined) {
      await this.removeStaleTempFiles(this.file);
      const loaded = await loadStateFile(this.file);
      const b = new SnapshotBuilder(loaded ?? EMPTY_SNAPSHOT);
      const pruned = b.pruneHealth((r) => isPrunable(r, this.now()));
      this.snapshot = b.build({ version: (loaded?.version ?? 0) + 1, syncedAt: this.now() });
      this.logger.info(
        { file: this.file, regions: this.snapshot.regions.size, prunedHealthReports: pruned },
        loaded === undefined ? 'no state file yet: starting empty' : 'state loaded',
      );
    } else {
      this.snapshot = withSyncedAt(this.snapshot, this.now());
    }
    this.pruneTimer = setInterval(() => this.pruneOldHealth(), PRUNE_INTERVAL_MS);
    this.pruneTimer.unref();
    this.started = true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.pruneTimer !== undefined) clearInterval(this.pruneTimer);
    if (this.healthFlushTimer !== undefined) {
      clearTimeout(this.healthFlushTimer);
      this.healthFlushTimer = undefined;
    }
    if (this.started && this.file !== undefined && this.dirty) {
      await this.enqueue(() => this.flush()).catch((err: unknown) => {
        this.logger.error({ err: describeError(err) }, 'could not write the state file on close');
      });
    } else {
      await this.chain;
    }
    this.listeners.clear();
  }

  current(): Snapshot {
    return this.snapshot;
  }

  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  status(): StoreStatus {
    return {
      kind: 'memory',
      connected: this.started && !this.closed,
      snapshotAgeMs: 0,
      resyncs: this.resyncs,
      changeFeedLagMs: 0,
    };
  }

  /** The memory store is its own source of truth: this only re-announces the current snapshot. */
  resync(): Promise<void> {
    return this.enqueue(() => {
      this.resyncs++;
      this.publish(withSyncedAt(this.snapshot, this.now()), RESYNC_EVENT);
      return Promise.resolve();
    });
  }

  createRegion(input: RegionInput): Promise<Region> {
    return this.write(async () => {
      const region = buildRegion(input, this.date());
      if (this.snapshot.regions.has(region.id)) throw conflict(`region ${region.id}`);
      await this.commit((b) => b.setRegion(region), {
        kind: 'region',
        regionId: region.id,
        id: region.id,
        op: 'upsert',
      });
      return region;
    });
  }

  updateRegion(id: string, patch: RegionPatch): Promise<Region> {
    return this.write(async () => {
      const region = patchRegion(this.region(id), patch, this.date());
      await this.commit((b) => b.setRegion(region), { kind: 'region', regionId: id, id, op: 'upsert' });
      return region;
    });
  }

  removeRegion(id: string): Promise<void> {
    return this.write(async () => {
      this.region(id);
      await this.commit((b) => b.deleteRegion(id), { kind: 'region', regionId: id, id, op: 'delete' });
    });
  }

  createBackend(regionId: string, input: BackendInput): Promise<Backend> {
    return this.write(async () => {
      const backend = buildBackend(regionId, input, this.date());
      this.region(regionId);
      if (this.snapshot.backends.get(regionId)?.has(backend.id) === true) {
        throw conflict(`backend ${backend.id} in region ${regionId}`);
      }
      await this.commit((b) => b.setBackend(backend), {
        kind: 'backend',
        regionId,
        id: backend.id,
        op: 'upsert',
      });
      return backend;
    });
  }

  updateBackend(regionId: string, id: string, patch: BackendPatch): Promise<Backend> {
    return this.write(async () => {
      const backend = patchBackend(this.backend(regionId, id), patch, this.date());
      await this.commit((b) => b.setBackend(backend), { kind: 'backend', regionId, id, op: 'upsert' });
      return backend;
    });
  }

  removeBackend(regionId: string, id: string): Promise<void> {
    return this.write(async () => {
      this.backend(regionId, id);
      await this.commit((b) => b.deleteBackend(regionId, id), {
        kind: 'backend',
        regionId,
        id,
        op: 'delete',
      });
    });
  }

  reportHealth(report: HealthReport): Promise<void> {
    return this.write(() => {
      const valid = validateHealthReport(report);
      this.region(valid.regionId);
      const b = new SnapshotBuilder(this.snapshot).setHealth(valid);
      b.pruneHealth((r) => isPrunable(r, this.now()));
      this.publish(b.build(), {
        kind: 'health',
        regionId: valid.regionId,
        id: valid.reporterId,
        op: 'upsert',
      });
      this.scheduleHealthFlush();
      return Promise.resolve();
    });
  }

  // --- internals ---------------------------------------------------------------------------

  private date(): Date {
    return new Date(this.now());
  }

  private region(id: string): Region {
    assertId(id, 'regionId');
    const region = this.snapshot.regions.get(id);
    if (region === undefined) throw notFound(`region ${id}`);
    return region;
  }

  private backend(regionId: string, id: string): Backend {
    this.region(regionId);
    assertId(id, 'backendId');
    const backend = this.snapshot.backends.get(regionId)?.get(id);
    if (backend === undefined) throw notFound(`backend ${id} in region ${regionId}`);
    return backend;
  }

  /** Runs `fn` after every earlier write has finished; a failure does not break the chain. */
  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.chain.then(fn);
    this.chain = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private write<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed)
      return Promise.reject(new MeridianError('E_UNAVAILABLE', 'state store unavailable: closed'));
    if (!this.started && this.file !== undefined) {
      return Promise.reject(
        new MeridianError('E_UNAVAILABLE', 'state store unavailable: start() was not called'),
      );
    }
    return this.enqueue(fn);
  }

  /** Builds the next snapshot, persists it, then makes it current and notifies listeners. */
  private async commit(change: (b: SnapshotBuilder) => void, event: ChangeEvent): Promise<void> {
    const b = new SnapshotBuilder(this.snapshot);
    change(b);
    b.pruneHealth((r) => isPrunable(r, this.now()));
    const next = b.build({ syncedAt: this.now() });
    if (this.file !== undefined) await this.persist(next);
    this.publish(next, event);
    // `next` carried every health report too, so the file is now up to date.
    this.dirty = false;
  }

  private publish(next: Snapshot, event: ChangeEvent): void {
    this.snapshot = next;
    notifyListeners(this.listeners, next, event, (err) => {
      this.logger.error({ err: describeError(err), change: event }, 'state change listener threw');
    });
  }

  private scheduleHealthFlush(): void {
    if (this.file === undefined) return;
    this.dirty = true;
    if (this.healthFlushTimer !== undefined || this.closed) return;
    this.healthFlushTimer = setTimeout(() => {
      this.healthFlushTimer = undefined;
      if (!this.dirty || this.closed) return;
      this.enqueue(() => this.flush()).catch((err: unknown) => {
        this.logger.warn({ err: describeError(err) }, 'could not persist health reports');
      });
    }, this.healthFlushMs);
    this.healthFlushTimer.unref();
  }

  private pruneOldHealth(): void {
    this.write(() => {
      const b = new SnapshotBuilder(this.snapshot);
      if (b.pruneHealth((r) => isPrunable(r, this.now())) > 0) {
        this.publish(b.build(), { kind: 'health', op: 'delete' });
        this.scheduleHealthFlush();
      }
      return Promise.resolve();
    }).catch((err: unknown) => {
      this.logger.warn({ err: describeError(err) }, 'pruning old health reports failed');
    });
  }

  /** Writes the current snapshot if health changed since the last write (runs inside the chain). */
  private async flush(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    try {
      await this.persist(this.snapshot);
    } catch (err) {
      this.dirty = true;
      throw err;
    }
  }

  private async persist(s: Snapshot): Promise<void> {
    const file = this.file;
    if (file === undefined) return;
    try {
      await writeFileAtomic(file, `${JSON.stringify(encodeSnapshot(s))}\n`);
    } catch (err) {
      throw new MeridianError(
        'E_UNAVAILABLE',
        `state store unavailable: cannot write ${file}: ${describeError(err)}`,
        {
          cause: err,
        },
      );
    }
  }

  private async removeStaleTempFiles(file: string): Promise<void> {
    const prefix = `.${basename(file)}.`;
    let names: string[];
    try {
      names = await readdir(dirname(file));
    } catch {
      return;
    }
    for (const name of names) {
      if (name.startsWith(prefix) && name.endsWith('.tmp')) {
        await unlink(join(dirname(file), name)).catch(() => undefined);
      }
    }
  }
}

/** Reads and validates a state file. Missing → undefined; unreadable or corrupt → E_CONFIG. */
export async function loadStateFile(file: string): Promise<Snapshot | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new MeridianError('E_CONFIG', `cannot read state file ${file}: ${describeError(err)}`, {
      cause: err,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new MeridianError(
      'E_CONFIG',
      `state file ${file} is corrupt (invalid JSON: ${describeError(err)}); fix or move it away — it was left untouched`,
      { cause: err },
    );
  }
  try {
    return decodeSnapshot(json);
  } catch (err) {
    throw new MeridianError(
      'E_CONFIG',
      `state file ${file} is corrupt (${describeError(err)}); fix or move it away — it was left untouched`,
      { cause: err },
    );
  }
}

/** Writes `text` to `file` atomically: a temp file in the same folder, fsync, rename, fsync the folder. */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const handle = await open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  try {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // Some platforms cannot fsync a directory; the rename itself is still atomic.
  }
}
