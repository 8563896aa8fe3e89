// The embedded backend's traffic and health history: in memory, persisted as an append-only JSON
// Lines file beside the state file (`<state>.history.jsonl`, mode 0600). Each flush appends one
// line per rollup or event: a `t` line adds to its minute and its hour. `prune` rewrites the file
// atomically with what is left: `m` lines (a minute only) and `H` lines (an hour only). A torn last
// line (a crash mid-append) is skipped when the file is read back.
import { appendFile, readFile } from 'node:fs/promises';
import { MeridianError, describeError } from '../../core/errors.js';
import {
  addCounters,
  compareRollups,
  hourOf,
  reviveHealthEvent,
  validateHealthEvent,
  validateRange,
  validateRollup,
  type HealthAppendOptions,
  type HealthEvent,
  type HistoryRange,
  type HistoryStore,
  type TrafficRollup,
} from '../history-store.js';
import { silentLogger, type Logger } from '../../infra/logger.js';
import { restrictToOwner } from './private-file.js';
import { writeFileAtomic } from './state-file.js';

export interface MemoryHistoryStoreOptions {
  /** Persisted here when given; in memory only otherwise. */
  readonly file?: string;
  readonly clock?: () => number;
  readonly log?: Logger;
}

/** `<state>.json` → `<state>.history.jsonl`. */
export function historyFileFor(stateFile: string): string {
  return `${stateFile.replace(/\.json$/, '')}.history.jsonl`;
}

type Line =
  { k: 't' | 'm' | 'H'; m: number; r: string; c: Record<string, number> } | ({ k: 'h' } & HealthEvent);
type Buckets = Map<number, Map<string, Record<string, number>>>;

export class MemoryHistoryStore implements HistoryStore {
  readonly kind = 'memory' as const;
  /** minute → region → counters. */
  private readonly minutes: Buckets = new Map();
  /** hour → region → counters. */
  private readonly hours: Buckets = new Map();
  /** Kept in time order (appends are nearly ordered; inserted in place otherwise). */
  private readonly events: HealthEvent[] = [];
  private readonly dedupe = new Map<string, number>();
  private readonly file: string | undefined;
  private readonly clock: () => number;
  private readonly log: Logger;
  /** File writes run one after another. */
  private chain: Promise<void> = Promise.resolve();

  constructor(options: MemoryHistoryStoreOptions = {}) {
    this.file = options.file;
    this.clock = options.clock ?? Date.now;
    this.log = options.log ?? silentLogger;
  }

  async start(): Promise<void> {
    if (this.file === undefined) return;
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new MeridianError('E_CONFIG', `cannot read history file ${this.file}: ${describeError(err)}`);
    }
    await restrictToOwner(this.file, this.log);
    for (const raw of text.split('\n')) {
      if (raw.trim() === '') continue;
      let line: unknown;
      try {
        line = JSON.parse(raw);
      } catch {
        continue; // a torn line: the rest of the file is still good
      }
      this.applyLine(line);
    }
  }

  async close(): Promise<void> {
    await this.chain;
  }

  private applyLine(line: unknown): void {
    if (typeof line !== 'object' || line === null) return;
    const l = line as Partial<Line> & Record<string, unknown>;
    if (l.k === 't' || l.k === 'm' || l.k === 'H') {
      try {
        const r = validateRollup({ minute: l.m as number, region: l.r as string, counters: l.c as never });
        if (l.k !== 'H') this.merge(this.minutes, r.minute, r);
        if (l.k !== 'm') this.merge(this.hours, hourOf(r.minute), r);
      } catch {
        // an unreadable line is skipped, like a torn one
      }
    } else if (l.k === 'h') {
      const event = reviveHealthEvent(l);
      if (event !== undefined) this.insertEvent(event);
    }
  }

  private merge(into: Buckets, at: number, r: TrafficRollup): void {
    let byRegion = into.get(at);
    if (byRegion === undefined) {
      byRegion = new Map();
      into.set(at, byRegion);
    }
    let counters = byRegion.get(r.region);
    if (counters === undefined) {
      counters = {};
      byRegion.set(r.region, counters);
    }
    addCounters(counters, r.counters);
  }

  private insertEvent(event: HealthEvent): void {
    let i = this.events.length;
    while (i > 0 && (this.events[i - 1]?.t ?? 0) > event.t) i--;
    this.events.splice(i, 0, event);
  }

  private persist(lines: readonly Line[]): Promise<void> {
    const file = this.file;
    if (file === undefined || lines.length === 0) return Promise.resolve();
    const text = lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
    const write = this.chain.then(async () => {
      try {
        await appendFile(file, text, { mode: 0o600 });
      } catch (err) {
        throw new MeridianError('E_UNAVAILABLE', `cannot write history file ${file}: ${describeError(err)}`);
      }
    });
    this.chain = write.catch(() => undefined);
    return write;
  }

  async addTraffic(rollups: readonly TrafficRollup[]): Promise<void> {
    const valid = rollups.map(validateRollup).filter((r) => Object.keys(r.counters).length > 0);
    for (const r of valid) {
      this.merge(this.minutes, r.minute, r);
      this.merge(this.hours, hourOf(r.minute), r);
    }
    await this.persist(valid.map((r) => ({ k: 't', m: r.minute, r: r.region, c: { ...r.counters } })));
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async so bad ranges reject
  async traffic(range: HistoryRange): Promise<TrafficRollup[]> {
    const { from, to, region, resolution } = validateRange(range);
    const out: TrafficRollup[] = [];
    for (const [minute, byRegion] of resolution === 'hour' ? this.hours : this.minutes) {
      if (minute < from || minute > to) continue;
      for (const [r, counters] of byRegion) {
        if (region === undefined || r === region) out.push({ minute, region: r, counters: { ...counters } });
      }
    }
    return out.sort(compareRollups);
  }

  async addHealthEvent(event: HealthEvent, options: HealthAppendOptions = {}): Promise<boolean> {
    const valid = validateHealthEvent(event);
    if (options.dedupeKey !== undefined) {
      const now = this.clock();
      for (const [key, until] of this.dedupe) if (until <= now) this.dedupe.delete(key);
      if (this.dedupe.has(options.dedupeKey)) return false;
      this.dedupe.set(options.dedupeKey, now + (options.dedupeMs ?? 5000));
    }
    this.insertEvent(valid);
    await this.persist([{ k: 'h', ...valid }]);
    return true;
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async so bad ranges reject
  async healthEvents(range: HistoryRange): Promise<HealthEvent[]> {
    const { from, to, region } = validateRange(range);
    return this.events.filter(
      (e) => e.t >= from && e.t <= to && (region === undefined || e.region === region),
    );
  }

  async prune(before: number, minutesBefore = before): Promise<number> {
    let removed = 0;
    for (const [buckets, cutoff] of [
      [this.minutes, Math.max(before, minutesBefore)],
      // The hour holding `before` stays whole.
      [this.hours, hourOf(before)],
    ] as const) {
      for (const [at, byRegion] of buckets) {
        if (at >= cutoff) continue;
        removed += byRegion.size;
        buckets.delete(at);
      }
    }
    const keep = this.events.filter((e) => e.t >= before);
    removed += this.events.length - keep.length;
    this.events.splice(0, this.events.length, ...keep);
    const file = this.file;
    if (removed > 0 && file !== undefined) {
      // Compaction: one line per remaining rollup (minutes and hours apart) and event.
      const lines: Line[] = [];
      for (const resolution of ['minute', 'hour'] as const) {
        for (const r of await this.traffic({ from: 0, to: Number.MAX_SAFE_INTEGER, resolution }))
          lines.push({
            k: resolution === 'minute' ? 'm' : 'H',
            m: r.minute,
            r: r.region,
            c: { ...r.counters },
          });
      }
      for (const e of this.events) lines.push({ k: 'h', ...e });
      const text = lines.map((l) => JSON.stringify(l) + '\n').join('');
      const write = this.chain.then(() => writeFileAtomic(file, text));
      this.chain = write.catch(() => undefined);
      await write;
    }
    return removed;
  }
}
