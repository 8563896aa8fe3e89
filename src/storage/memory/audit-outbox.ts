// The memory state store's transactional audit outbox. An audited write's entry, with a fresh
// random id, goes into the state file's `auditOutbox` in the same atomic temp-file + rename as the
// change itself (state-file.ts). After the rename the entry is handed to the sink given to
// `attachAuditSink` (serve.ts: the ops record store) and, once the sink resolves, dropped from the
// outbox; a prompt follow-up write of the file (or the next change's) persists the smaller outbox.
// A failed delivery is logged, retried with backoff (doubling up to 30 s), and never fails the
// write. Entries still in the outbox at start-up (a crash between the rename and the delivery, or
// no sink attached yet) are delivered once a sink is attached. Delivery is at-least-once; the sink
// makes it exactly-once by skipping an entry id it already has (`idempotencyKey`, see
// src/storage/ops-record-store.ts). With no sink the outbox is bounded (`auditOutboxLimit`, default
// 10,000): beyond it the oldest entries are dropped with a warning.
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../infra/logger.js';
import type { AuditOutboxEntry, AuditSink } from '../state-store.js';

const MAX_AUDIT_RETRY_MS = 30_000;

export interface AuditOutboxOptions {
  logger: Logger;
  /** Most entries kept undelivered; beyond it the oldest are dropped. */
  limit: number;
  /** First retry delay after a failed delivery (doubling up to 30 s). */
  retryMs: number;
  /** Whether the outbox is persisted (the store has a file). */
  persisted: boolean;
  /** Deliveries only run once the store started and until it closes. */
  isStarted: () => boolean;
  isClosed: () => boolean;
  /** Entries were delivered: persist the shortened outbox soon. */
  persistSoon: () => void;
}

export class AuditOutbox {
  /** Committed audit entries not yet delivered, oldest first. Replaced, never mutated in place. */
  private list: readonly AuditOutboxEntry[] = [];
  /** +1 on every change of `list`; the file holds the outbox as of `fileVersion`. */
  private listVersion = 0;
  private fileVersion = 0;
  private sink: AuditSink | undefined;
  private delivering: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs: number;

  constructor(private readonly options: AuditOutboxOptions) {
    this.retryDelayMs = options.retryMs;
  }

  /** Entries committed but not yet delivered (oldest first). */
  get entries(): readonly AuditOutboxEntry[] {
    return this.list;
  }

  /** Changes on every change of the entries (compare before and after writing the file). */
  get version(): number {
    return this.listVersion;
  }

  /** Whether the file lags the outbox. */
  dirty(): boolean {
    return this.options.persisted && this.listVersion !== this.fileVersion;
  }

  /** The file now holds the outbox as of `version`. */
  written(version: number): void {
    this.fileVersion = version;
  }

  /** Entries read from the state file at start-up (the file holds exactly them: nothing to rewrite). */
  loaded(entries: readonly AuditOutboxEntry[]): void {
    this.list = this.bounded([...this.list, ...entries]);
  }

  /** What the file gets: the outbox plus `pending` (a write's own entry, not added yet). */
  forFile(pending?: AuditOutboxEntry): readonly AuditOutboxEntry[] {
    return pending === undefined ? this.list : this.bounded([...this.list, pending], true);
  }

  /**
   * Adds a write's entry once its file write (which included it) is done. `versionBefore` is the
   * version when that file write began: the file matches unless the outbox changed meanwhile.
   */
  committed(item: AuditOutboxEntry, versionBefore: number): void {
    // Deliveries may have shortened the outbox while the file was written: add to what is
    // current now.
    const unchanged = versionBefore === this.listVersion;
    this.set(this.bounded([...this.list, item]));
    if (unchanged) this.fileVersion = this.listVersion;
  }

  /** Sets where entries are delivered (replacing any earlier sink) and delivers what is here. */
  attachSink(sink: AuditSink): void {
    this.sink = sink;
    void this.deliver();
  }

  /** Stops retrying; a delivery in progress finishes its current entry. */
  async stop(): Promise<void> {
    if (this.retryTimer !== undefined) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    await this.delivering;
  }

  /**
   * Delivers the outbox to the sink, oldest first, until it is empty, the sink fails (then a retry
   * is scheduled) or the store closes. One run at a time; callers share the running one. Never rejects.
   */
  deliver(): Promise<void> {
    if (this.delivering !== undefined) {
      // The running loop picks up entries added meanwhile; wait for it, then make sure.
      return this.delivering.then(() => (this.list.length > 0 ? this.deliverOnce() : undefined));
    }
    return this.deliverOnce();
  }

  private deliverOnce(): Promise<void> {
    if (this.delivering !== undefined) return this.delivering;
    const { isStarted, isClosed, logger } = this.options;
    if (this.sink === undefined || !isStarted() || isClosed() || this.list.length === 0) {
      return Promise.resolve();
    }
    const run = async (): Promise<void> => {
      let delivered = 0;
      try {
        for (;;) {
          const sink = this.sink;
          const item = this.list[0];
          if (sink === undefined || item === undefined || isClosed()) break;
          try {
            await sink(item);
          } catch (err) {
            logger.warn(
              { err: describeError(err), audit: item.entry, retryInMs: this.retryDelayMs },
              'could not deliver an audit entry: it stays in the outbox',
            );
            this.scheduleRetry();
            break;
          }
          this.retryDelayMs = this.options.retryMs;
          // It may have been dropped (outbox full) while the sink ran.
          if (this.list.includes(item)) this.set(this.list.filter((e) => e !== item));
          delivered++;
        }
      } finally {
        this.delivering = undefined;
        if (delivered > 0) this.options.persistSoon();
      }
    };
    this.delivering = run();
    return this.delivering;
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== undefined || this.options.isClosed()) return;
    const delay = this.retryDelayMs;
    this.retryDelayMs = Math.min(delay * 2, MAX_AUDIT_RETRY_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.deliver();
    }, delay);
    this.retryTimer.unref();
  }

  private set(next: readonly AuditOutboxEntry[]): void {
    this.list = next;
    this.listVersion++;
  }

  /** Keeps at most `limit` entries, dropping the oldest (with a warning unless `quiet`). */
  private bounded(list: AuditOutboxEntry[], quiet = false): AuditOutboxEntry[] {
    const excess = list.length - this.options.limit;
    if (excess <= 0) return list;
    if (!quiet) {
      this.options.logger.warn(
        {
          dropped: excess,
          limit: this.options.limit,
          oldest: list[0]?.entry,
          attached: this.sink !== undefined,
        },
        'audit outbox full: dropping the oldest undelivered audit entries',
      );
    }
    return list.slice(excess);
  }
}
