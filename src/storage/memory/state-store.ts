// The embedded single-node StateStore. The in-memory snapshot is the source of truth; with a
// `file` it is persisted atomically (temp file in the same folder + fsync + rename) after every
// region/backend write, and health reports are persisted debounced, so a restart keeps both the
// registrations and the last known health.
//
// Writes are serialised through one promise chain: validation, the conflict check, persisting and
// publishing the new snapshot happen one write at a time, so two concurrent creates of the same id
// give one success and one E_CONFLICT.
//
// Audited writes (a WriteContext given) use a transactional outbox: the write's audit entry goes
// into the state file's `auditOutbox` in the same atomic write as the change itself (either both
// are on disk or neither is), then to the sink given to `attachAuditSink`; the write resolves after
// that delivery attempt and never fails on it.
//
// Here: the snapshot, the write chain and the writes. The file (format, atomic writes, when to
// write) is state-file.ts; the outbox, its delivery and its bound are audit-outbox.ts.
import { randomUUID } from 'node:crypto';
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
import type { AuditEntry } from '../ops-record-store.js';
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
import { RESYNC_EVENT, SnapshotBuilder, notifyListeners, withSyncedAt } from '../snapshot-codec.js';
import { AuditOutbox } from './audit-outbox.js';
import { StateFile, readStateFile, removeStaleTempFiles } from './state-file.js';

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

export class MemoryStateStore implements StateStore {
  private snapshot: Snapshot = EMPTY_SNAPSHOT;
  private readonly listeners = new Set<ChangeListener>();
  private readonly logger: Logger;
  private readonly now: () => number;
  /** The state file (absent: the state lives only in memory). */
  private readonly file: StateFile | undefined;
  private readonly fileName: string | undefined;
  private readonly outbox: AuditOutbox;
  /** Tail of the write chain; every write and every file write runs after the previous one. */
  private chain: Promise<void> = Promise.resolve();
  private started = false;
  private closed = false;
  private resyncs = 0;
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(options: MemoryStateStoreOptions = {}) {
    this.fileName = options.file;
    this.logger = (options.logger ?? silentLogger).child({ component: 'state', store: 'memory' });
    this.now = options.now ?? Date.now;
    const retryMs = Math.max(1, options.auditRetryMs ?? 1000);
    this.outbox = new AuditOutbox({
      logger: this.logger,
      limit: Math.max(1, options.auditOutboxLimit ?? 10_000),
      retryMs,
      persisted: options.file !== undefined,
      isStarted: () => this.started,
      isClosed: () => this.closed,
      persistSoon: () => this.file?.scheduleOutboxFlush(),
    });
    this.file =
      options.file === undefined
        ? undefined
        : new StateFile({
            file: options.file,
            logger: this.logger,
            outbox: this.outbox,
            healthFlushMs: options.healthFlushMs ?? 1000,
            current: () => this.snapshot,
            enqueue: (fn) => this.enqueue(fn),
            isClosed: () => this.closed,
          });
  }

  async start(): Promise<void> {
    if (this.started) return;
    if (this.fileName !== undefined) {
      await removeStaleTempFiles(this.fileName);
      const loaded = await readStateFile(this.fileName);
      const b = new SnapshotBuilder(loaded?.snapshot ?? EMPTY_SNAPSHOT);
      const pruned = b.pruneHealth((r) => isPrunable(r, this.now()));
      this.snapshot = b.build({ version: (loaded?.snapshot.version ?? 0) + 1, syncedAt: this.now() });
      if (loaded !== undefined) {
        if (loaded.skippedOutboxEntries > 0) {
          this.logger.warn(
            { file: this.fileName, skipped: loaded.skippedOutboxEntries },
            'skipped unreadable audit outbox entries in the state file',
          );
        }
        // The file holds exactly this outbox: nothing to rewrite until it changes.
        this.outbox.loaded(loaded.auditOutbox);
      }
      this.logger.info(
        {
          file: this.fileName,
          regions: this.snapshot.regions.size,
          prunedHealthReports: pruned,
          auditOutbox: this.outbox.entries.length,
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
    void this.outbox.deliver();
  }

  /**
   * Sets where committed audit entries are delivered (replacing any earlier sink) and starts
   * delivering what the outbox holds.
   */
  attachAuditSink(sink: AuditSink): void {
    this.outbox.attachSink(sink);
  }

  /** Audit entries committed but not yet delivered (oldest first). */
  pendingAudit(): readonly AuditOutboxEntry[] {
    return this.outbox.entries;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.pruneTimer !== undefined) clearInterval(this.pruneTimer);
    this.file?.stop();
    // A delivery in progress finishes its current entry; undelivered entries stay in the file.
    await this.outbox.stop();
    const file = this.file;
    if (this.started && file !== undefined && file.needsFlush()) {
      await this.enqueue(() => file.flush()).catch((err: unknown) => {
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
      this.file?.scheduleHealthFlush();
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
    if (!this.started && this.fileName !== undefined) {
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
      await this.outbox.deliver();
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
    const version = this.outbox.version;
    if (this.file !== undefined) await this.file.persist(next, item);
    this.publish(next, event);
    // `next` carried every health report too, so the file is now up to date.
    this.file?.healthWritten();
    if (item !== undefined) this.outbox.committed(item, version);
  }

  private publish(next: Snapshot, event: ChangeEvent): void {
    this.snapshot = next;
    notifyListeners(this.listeners, next, event, (err) => {
      this.logger.error({ err: describeError(err), change: event }, 'state change listener threw');
    });
  }

  private pruneOldHealth(): void {
    this.write(() => {
      const b = new SnapshotBuilder(this.snapshot);
      if (b.pruneHealth((r) => isPrunable(r, this.now())) > 0) {
        this.publish(b.build(), { kind: 'health', op: 'delete' });
        this.file?.scheduleHealthFlush();
      }
      return Promise.resolve();
    }).catch((err: unknown) => {
      this.logger.warn({ err: describeError(err) }, 'pruning old health reports failed');
    });
  }
}
