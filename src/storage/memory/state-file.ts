// The memory state store's file: its format (the snapshot's JSON plus the audit outbox), reading
// and validating it, writing it atomically (temp file in the same folder + fsync + rename), and the
// store-side bookkeeping of when it must be written: after every region/backend write (by the
// store), debounced after health reports, and soon after audit deliveries shortened the outbox.
import { mkdir, open, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Snapshot } from '../../core/types.js';
import { MeridianError, describeError } from '../../core/errors.js';
import type { Logger } from '../../infra/logger.js';
import { reviveData } from '../ops-record-store.js';
import type { AuditOutboxEntry } from '../state-store.js';
import { decodeSnapshot, encodeSnapshot, type SnapshotJson } from '../snapshot-codec.js';
import type { AuditOutbox } from './audit-outbox.js';

export interface StateFileOptions {
  file: string;
  logger: Logger;
  outbox: AuditOutbox;
  /** Delay before health reports are written (ms). */
  healthFlushMs: number;
  /** The snapshot to write when health or the outbox changed. */
  current: () => Snapshot;
  /** Runs a file write in the store's write chain (after every earlier write). */
  enqueue: (fn: () => Promise<void>) => Promise<void>;
  isClosed: () => boolean;
}

/** When and how the store writes its file. */
export class StateFile {
  /** Whether the file lags the snapshot (health written but not yet persisted). */
  private dirty = false;
  private healthFlushTimer: NodeJS.Timeout | undefined;
  private outboxFlushQueued = false;

  constructor(private readonly options: StateFileOptions) {}

  /** Whether health or the audit outbox changed since the last write. */
  needsFlush(): boolean {
    return this.dirty || this.options.outbox.dirty();
  }

  /** A write just persisted a whole snapshot, health reports included. */
  healthWritten(): void {
    this.dirty = false;
  }

  /** Stops the health debounce (the store is closing; its close() flushes what is left). */
  stop(): void {
    if (this.healthFlushTimer !== undefined) {
      clearTimeout(this.healthFlushTimer);
      this.healthFlushTimer = undefined;
    }
  }

  /** Health changed: write the file within `healthFlushMs`. */
  scheduleHealthFlush(): void {
    const { healthFlushMs, isClosed, enqueue, logger } = this.options;
    this.dirty = true;
    if (this.healthFlushTimer !== undefined || isClosed()) return;
    this.healthFlushTimer = setTimeout(() => {
      this.healthFlushTimer = undefined;
      if (!this.dirty || isClosed()) return;
      enqueue(() => this.flush()).catch((err: unknown) => {
        logger.warn({ err: describeError(err) }, 'could not persist health reports');
      });
    }, healthFlushMs);
    this.healthFlushTimer.unref();
  }

  /** Persists the shortened outbox soon (coalesced; a change written meanwhile already did). */
  scheduleOutboxFlush(): void {
    const { isClosed, enqueue, logger } = this.options;
    if (this.outboxFlushQueued || isClosed()) return;
    this.outboxFlushQueued = true;
    enqueue(() => {
      this.outboxFlushQueued = false;
      return this.flush();
    }).catch((err: unknown) => {
      logger.warn({ err: describeError(err) }, 'could not persist the audit outbox');
    });
  }

  /**
   * Writes the current snapshot if health or the audit outbox changed since the last write (runs
   * inside the chain).
   */
  async flush(): Promise<void> {
    if (!this.needsFlush()) return;
    const wasDirty = this.dirty;
    this.dirty = false;
    try {
      await this.persist(this.options.current());
    } catch (err) {
      this.dirty = wasDirty;
      throw err;
    }
  }

  /** Writes `s` and the outbox (plus `pending`, a write's own entry) in one atomic file write. */
  async persist(s: Snapshot, pending?: AuditOutboxEntry): Promise<void> {
    const { file, outbox } = this.options;
    const version = outbox.version;
    const state: StateFileJson = { ...encodeSnapshot(s), auditOutbox: outbox.forFile(pending) };
    try {
      await writeFileAtomic(file, `${JSON.stringify(state)}\n`);
      // With `pending`, the caller records what the file holds once it has added the entry.
      if (pending === undefined) outbox.written(version);
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
}

/** Removes temp files a crash left beside `file` (they never replaced it). */
export async function removeStaleTempFiles(file: string): Promise<void> {
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
