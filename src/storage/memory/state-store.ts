// The embedded single-node StateStore. The in-memory snapshot is the source of truth; with a
// `file` it is persisted atomically (temp file in the same folder + fsync + rename) after every
// region/backend write, and health reports are persisted debounced, so a restart keeps both the
// registrations and the last known health.
//
// Writes are serialised through one promise chain: validation, the conflict check, persisting and
// publishing the new snapshot happen one write at a time, so two concurrent creates of the same id
// give one success and one E_CONFLICT.
//
// Audited writes (a WriteContext given) use a transactional outbox. The file is
//   { format, version, syncedAt, regions, backends, health, auditOutbox: AuditOutboxEntry[] }
// and the write's audit entry, with a fresh random id, goes into `auditOutbox` in the same atomic
// temp-file + rename as the change itself: either both are on disk or neither is. After the rename
// the entry is handed to the sink given to `attachAuditSink` (serve.ts: the ops record store) and,
// once the sink resolves, dropped from the outbox; a prompt follow-up write of the file (or the next
// change's) persists the smaller outbox. The write's promise resolves after that delivery attempt,
// so the audit log normally shows the change as soon as the API answers; a failed delivery is
// logged, retried with backoff, and never fails the write. Entries still in the outbox at start-up
// (a crash between the rename and the delivery, or no sink attached yet) are delivered once a sink
// is attached. Delivery is at-least-once; the sink makes it exactly-once by skipping an entry id it
// already has (`idempotencyKey`, see src/storage/ops-record-store.ts). With no sink the outbox is bounded
// (`auditOutboxLimit`, default 10,000): beyond it the oldest entries are dropped with a warning.
import { mkdir, open, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
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
  WriteContext,
} from '../../core/types.js';
import { EMPTY_SNAPSHOT } from '../../core/types.js';
import { MeridianError, describeError, notFound, conflict } from '../../core/errors.js';
import { assertId } from '../../core/validate.js';
import { silentLogger, type Logger } from '../../infra/logger.js';
import { reviveData, type AuditEntry } from '../ops-record-store.js';
import type { AuditOutboxEntry, AuditSink, ChangeListener, StateStore, StoreStatus } from '../state-store.js';
import {
  auditEntry,
  backendTarget,
  checkContext,
  patchVerb,
  regionTarget,
  type AuditNoun,
  type AuditVerb,
} from '../audit.js';
import {
  buildBackend,
  buildRegion,
  isPrunable,
  patchBackend,
  patchRegion,
  validateHealthReport,
} from '../state-records.js';
import {
  RESYNC_EVENT,
  SnapshotBuilder,
  decodeSnapshot,
  encodeSnapshot,
  notifyListeners,
  withSyncedAt,
  type SnapshotJson,
} from '../snapshot-codec.js';

export interface MemoryStateStoreOptions {
  /** JSON file to persist to; without one the state lives only in memory. */
  file?: string;
  logger?: Logger;
  /** Clock (ms epoch), for tests. */
  now?: () => number;
  /** Delay before health reports are written to the file (default 1000 ms). */
  healthFlushMs?: number;
  /** Most audit entries kept undelivered (default 10,000); beyond it the oldest are dropped. */
  auditOutboxLimit?: number;
  /** First retry delay after a failed audit delivery (default 1000 ms, doubling up to 30 s). */
  auditRetryMs?: number;
}

const PRUNE_INTERVAL_MS = 60 * 60 * 1000;
const MAX_AUDIT_RETRY_MS = 30_000;

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

  // Audit outbox (see the top of this file).
  private readonly auditOutboxLimit: number;
  private readonly auditRetryMs: number;
  /** Committed audit entries not yet delivered, oldest first. Replaced, never mutated in place. */
  private outbox: readonly AuditOutboxEntry[] = [];
  /** +1 on every change of `outbox`; the file holds the outbox as of `fileOutboxVersion`. */
  private outboxVersion = 0;
  private fileOutboxVersion = 0;
  private outboxFlushQueued = false;
  private sink: AuditSink | undefined;
  private delivering: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs: number;

  constructor(options: MemoryStateStoreOptions = {}) {
    this.file = options.file;
    this.logger = (options.logger ?? silentLogger).child({ component: 'state', store: 'memory' });
    this.now = options.now ?? Date.now;
    this.healthFlushMs = options.healthFlushMs ?? 1000;
    this.auditOutboxLimit = Math.max(1, options.auditOutboxLimit ?? 10_000);
    this.auditRetryMs = Math.max(1, options.auditRetryMs ?? 1000);
    this.retryDelayMs = this.auditRetryMs;
  }

  async start(): Promise<void> {
    if (this.started) return;
    if (this.file !== undefined) {
      await this.removeStaleTempFiles(this.file);
      const loaded = await readStateFile(this.file);
      const b = new SnapshotBuilder(loaded?.snapshot ?? EMPTY_SNAPSHOT);
      const pruned = b.pruneHealth((r) => isPrunable(r, this.now()));
      this.snapshot = b.build({ version: (loaded?.snapshot.version ?? 0) + 1, syncedAt: this.now() });
      if (loaded !== undefined) {
        if (loaded.skippedOutboxEntries > 0) {
          this.logger.warn(
            { file: this.file, skipped: loaded.skippedOutboxEntries },
            'skipped unreadable audit outbox entries in the state file',
          );
        }
        // The file holds exactly this outbox: nothing to rewrite until it changes.
        this.outbox = this.bounded([...this.outbox, ...loaded.auditOutbox]);
      }
      this.logger.info(
        {
          file: this.file,
          regions: this.snapshot.regions.size,
          prunedHealthReports: pruned,
          auditOutbox: this.outbox.length,
        },
        loaded === undefined ? 'no state file yet: starting empty' : 'state loaded',
      );
    } else {
      this.snapshot = withSyncedAt(this.snapshot, this.now());
    }
    this.pruneTimer = setInterval(() => this.pruneOldHealth(), PRUNE_INTERVAL_MS);
    this.pruneTimer.unref();
    this.started = true;
    // Entries left over from a crash (or committed before start) go out once a sink is attached.
    void this.deliver();
  }

  /**
   * Sets where committed audit entries are delivered (replacing any earlier sink) and starts
   * delivering what the outbox holds.
   */
  attachAuditSink(sink: AuditSink): void {
    this.sink = sink;
    void this.deliver();
  }

  /** Audit entries committed but not yet delivered (oldest first). */
  pendingAudit(): readonly AuditOutboxEntry[] {
    return this.outbox;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.pruneTimer !== undefined) clearInterval(this.pruneTimer);
    if (this.healthFlushTimer !== undefined) {
      clearTimeout(this.healthFlushTimer);
      this.healthFlushTimer = undefined;
    }
    if (this.retryTimer !== undefined) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    // A delivery in progress finishes its current entry; undelivered entries stay in the file.
    await this.delivering;
    if (this.started && this.file !== undefined && (this.dirty || this.outboxDirty())) {
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

  createRegion(input: RegionInput, context?: WriteContext): Promise<Region> {
    return this.auditedWrite(context, async (ctx) => {
      const region = buildRegion(input, this.date());
      if (this.snapshot.regions.has(region.id)) throw conflict(`region ${region.id}`);
      const audit = this.audit(ctx, 'region', 'create', regionTarget(region.id), null, region);
      await this.commit(
        (b) => b.setRegion(region),
        { kind: 'region', regionId: region.id, id: region.id, op: 'upsert' },
        audit,
      );
      return region;
    });
  }

  updateRegion(id: string, patch: RegionPatch, context?: WriteContext): Promise<Region> {
    return this.auditedWrite(context, async (ctx) => {
      const before = this.region(id);
      const region = patchRegion(before, patch, this.date());
      const audit = this.audit(ctx, 'region', patchVerb(patch), regionTarget(id), before, region);
      await this.commit(
        (b) => b.setRegion(region),
        { kind: 'region', regionId: id, id, op: 'upsert' },
        audit,
      );
      return region;
    });
  }

  removeRegion(id: string, context?: WriteContext): Promise<void> {
    return this.auditedWrite(context, async (ctx) => {
      const before = this.region(id);
      const audit = this.audit(ctx, 'region', 'remove', regionTarget(id), before, null);
      await this.commit((b) => b.deleteRegion(id), { kind: 'region', regionId: id, id, op: 'delete' }, audit);
    });
  }

  createBackend(regionId: string, input: BackendInput, context?: WriteContext): Promise<Backend> {
    return this.auditedWrite(context, async (ctx) => {
      const backend = buildBackend(regionId, input, this.date());
      this.region(regionId);
      if (this.snapshot.backends.get(regionId)?.has(backend.id) === true) {
        throw conflict(`backend ${backend.id} in region ${regionId}`);
      }
      const target = backendTarget(regionId, backend.id);
      const audit = this.audit(ctx, 'backend', 'create', target, null, backend);
      await this.commit(
        (b) => b.setBackend(backend),
        { kind: 'backend', regionId, id: backend.id, op: 'upsert' },
        audit,
      );
      return backend;
    });
  }

  updateBackend(regionId: string, id: string, patch: BackendPatch, context?: WriteContext): Promise<Backend> {
    return this.auditedWrite(context, async (ctx) => {
      const before = this.backend(regionId, id);
      const backend = patchBackend(before, patch, this.date());
      const target = backendTarget(regionId, id);
      const audit = this.audit(ctx, 'backend', patchVerb(patch), target, before, backend);
      await this.commit((b) => b.setBackend(backend), { kind: 'backend', regionId, id, op: 'upsert' }, audit);
      return backend;
    });
  }

  removeBackend(regionId: string, id: string, context?: WriteContext): Promise<void> {
    return this.auditedWrite(context, async (ctx) => {
      const before = this.backend(regionId, id);
      const audit = this.audit(ctx, 'backend', 'remove', backendTarget(regionId, id), before, null);
      await this.commit(
        (b) => b.deleteBackend(regionId, id),
        { kind: 'backend', regionId, id, op: 'delete' },
        audit,
      );
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

  /**
   * A region/backend write: `fn` runs in the write chain with the validated context; with a
   * context, the write resolves after one attempt to deliver the outbox (never failing on it).
   */
  private auditedWrite<T>(
    context: WriteContext | undefined,
    fn: (ctx: WriteContext | undefined) => Promise<T>,
  ): Promise<T> {
    const result = this.write(() => fn(checkContext(context)));
    if (context === undefined) return result;
    return result.then(async (value) => {
      await this.deliver();
      return value;
    });
  }

  private audit(
    ctx: WriteContext | undefined,
    noun: AuditNoun,
    verb: AuditVerb,
    target: string,
    before: unknown,
    after: unknown,
  ): AuditEntry | undefined {
    return ctx === undefined ? undefined : auditEntry(ctx, noun, verb, target, before, after);
  }

  /**
   * Builds the next snapshot, persists it (with `audit` added to the outbox, in the same atomic
   * write), then makes it current and notifies listeners.
   */
  private async commit(
    change: (b: SnapshotBuilder) => void,
    event: ChangeEvent,
    audit?: AuditEntry,
  ): Promise<void> {
    const b = new SnapshotBuilder(this.snapshot);
    change(b);
    b.pruneHealth((r) => isPrunable(r, this.now()));
    const next = b.build({ syncedAt: this.now() });
    const item: AuditOutboxEntry | undefined =
      audit === undefined ? undefined : { id: randomUUID(), time: this.now(), entry: audit };
    const version = this.outboxVersion;
    if (this.file !== undefined) await this.persist(next, item);
    this.publish(next, event);
    // `next` carried every health report too, so the file is now up to date.
    this.dirty = false;
    if (item !== undefined) {
      // Deliveries may have shortened the outbox while the file was written: add to what is
      // current now. The file then matches unless the outbox changed meanwhile.
      const unchanged = version === this.outboxVersion;
      this.setOutbox(this.bounded([...this.outbox, item]));
      if (unchanged) this.fileOutboxVersion = this.outboxVersion;
    }
  }

  private setOutbox(next: readonly AuditOutboxEntry[]): void {
    this.outbox = next;
    this.outboxVersion++;
  }

  /** Keeps at most `auditOutboxLimit` entries, dropping the oldest (with a warning unless `quiet`). */
  private bounded(list: AuditOutboxEntry[], quiet = false): AuditOutboxEntry[] {
    const excess = list.length - this.auditOutboxLimit;
    if (excess <= 0) return list;
    if (!quiet) {
      this.logger.warn(
        {
          dropped: excess,
          limit: this.auditOutboxLimit,
          oldest: list[0]?.entry,
          attached: this.sink !== undefined,
        },
        'audit outbox full: dropping the oldest undelivered audit entries',
      );
    }
    return list.slice(excess);
  }

  private outboxDirty(): boolean {
    return this.file !== undefined && this.outboxVersion !== this.fileOutboxVersion;
  }

  /**
   * Delivers the outbox to the sink, oldest first, until it is empty, the sink fails (then a retry
   * is scheduled) or the store closes. One run at a time; callers share the running one. Never rejects.
   */
  private deliver(): Promise<void> {
    if (this.delivering !== undefined) {
      // The running loop picks up entries added meanwhile; wait for it, then make sure.
      return this.delivering.then(() => (this.outbox.length > 0 ? this.deliverOnce() : undefined));
    }
    return this.deliverOnce();
  }

  private deliverOnce(): Promise<void> {
    if (this.delivering !== undefined) return this.delivering;
    if (this.sink === undefined || !this.started || this.closed || this.outbox.length === 0) {
      return Promise.resolve();
    }
    const run = async (): Promise<void> => {
      let delivered = 0;
      try {
        for (;;) {
          const sink = this.sink;
          const item = this.outbox[0];
          if (sink === undefined || item === undefined || this.closed) break;
          try {
            await sink(item);
          } catch (err) {
            this.logger.warn(
              { err: describeError(err), audit: item.entry, retryInMs: this.retryDelayMs },
              'could not deliver an audit entry: it stays in the outbox',
            );
            this.scheduleRetry();
            break;
          }
          this.retryDelayMs = this.auditRetryMs;
          // It may have been dropped (outbox full) while the sink ran.
          if (this.outbox.includes(item)) this.setOutbox(this.outbox.filter((e) => e !== item));
          delivered++;
        }
      } finally {
        this.delivering = undefined;
        if (delivered > 0) this.scheduleOutboxFlush();
      }
    };
    this.delivering = run();
    return this.delivering;
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== undefined || this.closed) return;
    const delay = this.retryDelayMs;
    this.retryDelayMs = Math.min(delay * 2, MAX_AUDIT_RETRY_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.deliver();
    }, delay);
    this.retryTimer.unref();
  }

  /** Persists the shortened outbox soon (coalesced; a change written meanwhile already did). */
  private scheduleOutboxFlush(): void {
    if (this.file === undefined || this.outboxFlushQueued || this.closed) return;
    this.outboxFlushQueued = true;
    this.enqueue(() => {
      this.outboxFlushQueued = false;
      return this.flush();
    }).catch((err: unknown) => {
      this.logger.warn({ err: describeError(err) }, 'could not persist the audit outbox');
    });
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

  /**
   * Writes the current snapshot if health or the audit outbox changed since the last write (runs
   * inside the chain).
   */
  private async flush(): Promise<void> {
    if (!this.dirty && !this.outboxDirty()) return;
    const wasDirty = this.dirty;
    this.dirty = false;
    try {
      await this.persist(this.snapshot);
    } catch (err) {
      this.dirty = wasDirty;
      throw err;
    }
  }

  /** Writes `s` and the outbox (plus `pending`, a write's own entry) in one atomic file write. */
  private async persist(s: Snapshot, pending?: AuditOutboxEntry): Promise<void> {
    const file = this.file;
    if (file === undefined) return;
    const version = this.outboxVersion;
    const auditOutbox = pending === undefined ? this.outbox : this.bounded([...this.outbox, pending], true);
    const state: StateFileJson = { ...encodeSnapshot(s), auditOutbox };
    try {
      await writeFileAtomic(file, `${JSON.stringify(state)}\n`);
      // With `pending`, the caller records what the file holds once it has added the entry.
      if (pending === undefined) this.fileOutboxVersion = version;
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

/** The state file: the snapshot's JSON form plus the audit outbox (absent in older files). */
export interface StateFileJson extends SnapshotJson {
  readonly auditOutbox?: readonly AuditOutboxEntry[];
}

export interface StateFileContents {
  readonly snapshot: Snapshot;
  readonly auditOutbox: AuditOutboxEntry[];
  /** Outbox entries that could not be read (skipped, not fatal). */
  readonly skippedOutboxEntries: number;
}

/** Reads and validates a state file. Missing → undefined; unreadable or corrupt → E_CONFIG. */
export async function loadStateFile(file: string): Promise<Snapshot | undefined> {
  return (await readStateFile(file))?.snapshot;
}

/** One outbox entry from a state file; undefined when it is not a valid one. */
function reviveOutboxEntry(x: unknown): AuditOutboxEntry | undefined {
  if (typeof x !== 'object' || x === null) return undefined;
  const { id, time, entry } = x as Record<string, unknown>;
  if (typeof id !== 'string' || id.length === 0 || id.length > 200) return undefined;
  if (typeof time !== 'number' || !Number.isSafeInteger(time) || time < 0) return undefined;
  const data = reviveData('audit', entry);
  return data === undefined ? undefined : { id, time, entry: data };
}

/** Like `loadStateFile`, with the audit outbox too. */
export async function readStateFile(file: string): Promise<StateFileContents | undefined> {
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
  let snapshot: Snapshot;
  try {
    snapshot = decodeSnapshot(json);
  } catch (err) {
    throw new MeridianError(
      'E_CONFIG',
      `state file ${file} is corrupt (${describeError(err)}); fix or move it away — it was left untouched`,
      { cause: err },
    );
  }
  const rawOutbox = (json as { auditOutbox?: unknown }).auditOutbox;
  const auditOutbox: AuditOutboxEntry[] = [];
  let skippedOutboxEntries = 0;
  if (Array.isArray(rawOutbox)) {
    for (const raw of rawOutbox as unknown[]) {
      const entry = reviveOutboxEntry(raw);
      if (entry === undefined) skippedOutboxEntries++;
      else auditOutbox.push(entry);
    }
  } else if (rawOutbox !== undefined) {
    skippedOutboxEntries++;
  }
  return { snapshot, auditOutbox, skippedOutboxEntries };
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
