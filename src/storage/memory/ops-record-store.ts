// The embedded operations record store: arrays in memory, persisted to a JSON-lines file next to
// the state file. Each append adds one line (`{"kind","id","data"}`, plus `"key"` for an append
// with an `idempotencyKey`) and resolves once it is written; retention cleanup rewrites the whole
// file atomically (temporary file + rename). A torn last line (crash during an append) is skipped
// when loading. Idempotency keys are remembered as long as their record is kept, across restarts:
// the memory state store's audit outbox redelivers after a crash and relies on it.
import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MeridianError, describeError } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../infra/logger.js';
import { PRIVATE_FILE_MODE, restrictToOwner } from './private-file.js';
import {
  compareIds,
  formatId,
  inRange,
  makeRecord,
  normalizeQuery,
  parseId,
  reviveData,
  validateData,
  type AnyRecord,
  type AppendOptions,
  type CleanupResult,
  type OpsRecordStore,
  type RecordData,
  type RecordKind,
  type RecordOf,
  type RecordPage,
  type RecordQuery,
  type RetentionLimits,
  type StreamId,
} from '../ops-record-store.js';

interface Entry {
  readonly id: StreamId;
  readonly record: AnyRecord;
  /** The append's idempotency key, if it had one. */
  readonly key?: string;
}

export interface MemoryOpsRecordStoreOptions {
  /** JSON-lines file; without one, records live only in memory (tests, throwaway nodes). */
  readonly file?: string;
  readonly log?: Logger;
  readonly clock?: () => number;
}

/** `/x/.meridian-state.json` → `/x/.meridian-state.ops.jsonl` (records) and `.tasks.json` (tasks). */
export function opsFilesFor(stateFile: string): { records: string; tasks: string } {
  const base = stateFile.endsWith('.json') ? stateFile.slice(0, -'.json'.length) : stateFile;
  return { records: `${base}.ops.jsonl`, tasks: `${base}.tasks.json` };
}

export class MemoryOpsRecordStore implements OpsRecordStore {
  readonly kind = 'memory' as const;
  private readonly entries: Record<RecordKind, Entry[]> = { audit: [], alert: [] };
  private readonly dedupe = new Map<string, number>();
  /** Idempotency keys of kept records, per kind. */
  private readonly keys: Record<RecordKind, Set<string>> = { audit: new Set(), alert: new Set() };
  private readonly file: string | undefined;
  private readonly log: Logger;
  private readonly clock: () => number;
  /** Serialises file writes: appends and rewrites never interleave. */
  private io: Promise<void> = Promise.resolve();
  private started = false;

  constructor(options: MemoryOpsRecordStoreOptions = {}) {
    this.file = options.file;
    this.log = options.log ?? silentLogger;
    this.clock = options.clock ?? Date.now;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    if (this.file === undefined) return;
    await restrictToOwner(this.file, this.log);
    let content: string;
    try {
      content = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        await mkdir(dirname(this.file), { recursive: true });
        return;
      }
      throw new MeridianError(
        'E_UNAVAILABLE',
        `cannot read ops records ${this.file}: ${describeError(err)}`,
        {
          cause: err,
        },
      );
    }
    let skipped = 0;
    for (const line of content.split('\n')) {
      if (line.trim() === '') continue;
      const entry = parseLine(line);
      if (entry === undefined) skipped++;
      else {
        this.entries[entry.kind].push(entry.entry);
        if (entry.entry.key !== undefined) this.keys[entry.kind].add(entry.entry.key);
      }
    }
    for (const list of Object.values(this.entries)) list.sort((a, b) => compareIds(a.id, b.id));
    if (skipped > 0)
      this.log.warn({ file: this.file, skipped }, 'skipped unreadable lines in the ops record file');
  }

  async close(): Promise<void> {
    await this.io;
  }

  async append<K extends RecordKind>(
    kind: K,
    data: RecordData[K],
    options: AppendOptions = {},
  ): Promise<RecordOf[K] | undefined> {
    const valid = validateData(kind, data);
    const now = this.clock();
    const key = options.idempotencyKey;
    if (key !== undefined && this.keys[kind].has(key)) return undefined;
    if (options.dedupeKey !== undefined) {
      const until = this.dedupe.get(options.dedupeKey);
      if (until !== undefined && until > now) return undefined;
      this.dedupe.set(options.dedupeKey, now + (options.dedupeMs ?? 60_000));
      if (this.dedupe.size > 10_000) for (const [k, t] of this.dedupe) if (t <= now) this.dedupe.delete(k);
    }
    const list = this.entries[kind];
    const last = list.at(-1)?.id;
    const ms = Math.max(options.time ?? now, last?.ms ?? 0);
    const id = { ms, seq: last !== undefined && last.ms === ms ? last.seq + 1 : 0 };
    const record = makeRecord(id, valid);
    list.push(key === undefined ? { id, record } : { id, record, key });
    if (key !== undefined) this.keys[kind].add(key);
    if (this.file !== undefined) {
      const line = `${JSON.stringify({ kind, id: formatId(id), data: valid, ...(key === undefined ? {} : { key }) })}\n`;
      const file = this.file;
      await this.enqueue(() => appendFile(file, line, { encoding: 'utf8', mode: PRIVATE_FILE_MODE }));
    }
    return record;
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async so that bad input rejects
  async query<K extends RecordKind>(kind: K, query: RecordQuery = {}): Promise<RecordPage<RecordOf[K]>> {
    const q = normalizeQuery(kind, query);
    const list = this.entries[kind];
    const items: RecordOf[K][] = [];
    const step = q.order === 'desc' ? -1 : 1;
    let i = q.order === 'desc' ? list.length - 1 : 0;
    let nextCursor: string | undefined;
    for (; i >= 0 && i < list.length; i += step) {
      const entry = list[i];
      if (entry === undefined || !inRange(entry.id, q) || !q.matches(entry.record)) continue;
      if (items.length === q.limit) {
        nextCursor = items.at(-1)?.id;
        break;
      }
      items.push(entry.record as RecordOf[K]);
    }
    return nextCursor === undefined ? { items } : { items, nextCursor };
  }

  async cleanup(limits: RetentionLimits, now = this.clock()): Promise<CleanupResult> {
    const cutoff = now - limits.maxAgeMs;
    const removed = { audit: 0, alert: 0 };
    for (const kind of ['audit', 'alert'] as const) {
      const list = this.entries[kind];
      let drop = list.findIndex((e) => e.id.ms >= cutoff);
      if (drop === -1) drop = list.length;
      drop = Math.max(drop, list.length - limits.maxCount);
      if (drop > 0) {
        for (const e of list.splice(0, drop)) if (e.key !== undefined) this.keys[kind].delete(e.key);
        removed[kind] = drop;
      }
    }
    if (this.file !== undefined && removed.audit + removed.alert > 0) await this.rewrite(this.file);
    return removed;
  }

  private rewrite(file: string): Promise<void> {
    return this.enqueue(async () => {
      const lines: string[] = [];
      for (const kind of ['audit', 'alert'] as const) {
        for (const e of this.entries[kind]) {
          const { id: _id, time: _time, ...data } = e.record;
          lines.push(
            JSON.stringify({
              kind,
              id: formatId(e.id),
              data,
              ...(e.key === undefined ? {} : { key: e.key }),
            }),
          );
        }
      }
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, lines.length === 0 ? '' : `${lines.join('\n')}\n`, {
        encoding: 'utf8',
        mode: PRIVATE_FILE_MODE,
      });
      await rename(tmp, file);
    });
  }

  private enqueue(write: () => Promise<void>): Promise<void> {
    const run = this.io.then(write, write);
    this.io = run.catch(() => undefined);
    return run.catch((err: unknown) => {
      throw new MeridianError(
        'E_UNAVAILABLE',
        `cannot write ops records ${this.file ?? ''}: ${describeError(err)}`,
        {
          cause: err,
        },
      );
    });
  }
}

function parseLine(line: string): { kind: RecordKind; entry: Entry } | undefined {
  try {
    const x = JSON.parse(line) as { kind?: unknown; id?: unknown; data?: unknown; key?: unknown };
    if ((x.kind !== 'audit' && x.kind !== 'alert') || typeof x.id !== 'string') return undefined;
    const id = parseId(x.id);
    const data = reviveData(x.kind, x.data);
    if (data === undefined) return undefined;
    const record = makeRecord(id, data);
    return {
      kind: x.kind,
      entry: typeof x.key === 'string' ? { id, record, key: x.key } : { id, record },
    };
  } catch {
    return undefined;
  }
}
