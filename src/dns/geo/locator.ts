// Geolocation over MaxMind DB files (maxmind's Reader), with a safe hot reload: the locator facade.
//
// Several files are tried in order; the first that has a record for the address answers (its network
// narrowed, if need be, to the empty network of an earlier file that missed). An IPv4-only
// database is never asked about an IPv6 address (its tree has no IPv6 bits). IPv4-mapped IPv6
// addresses (::ffff:a.b.c.d) are looked up as IPv4.
//
// The query path is `lookupBytes`: the address bytes walk the search tree over the file's buffer
// (mmdb-tree.ts) to a data-record offset, and the record's normalised form is kept per offset in
// the file's RecordTable (geo-records.ts; there are far fewer location records than networks), so
// a lookup decodes nothing once its record was seen. The network text is made only when asked for (explain, logs). `lookup`
// takes text for the admin API and tests and gives the same answers as plain objects. With
// `prefill` (the processes that answer queries) every record is decoded in the background right
// after a file loads, so a query meets no undecoded record once that is done.
//
// Loading and checking a file: database.ts. Hot reload (files stat'ed every `reloadCheckSeconds`,
// a bad file keeps the old data): reload.ts.
import { isMainThread } from 'node:worker_threads';
import { MeridianError } from '../../core/errors.js';
import { ipToBytes } from '../../core/ip.js';
import { silentLogger, type Logger } from '../../infra/logger.js';
import { loadAtOpen, type LoadedDatabase } from './database.js';
import { releaseSnapshot, type ImageOptions } from './file-image.js';
import { GeoHit, normalise } from './geo-records.js';
import { NO_RECORD } from './mmdb-tree.js';
import { DatabaseWatcher } from './reload.js';
import type { GeoLocator, GeoResult } from './types.js';

export interface GeoLocatorOptions {
  logger?: Logger;
  /** Seconds between checks of the files' size and modification time; 0 or absent = no automatic reload. */
  reloadCheckSeconds?: number;
  /** Called when a changed file could not be loaded (the previous data keeps being served). */
  onReloadError?: (path: string, err: unknown) => void;
  /**
   * Where the files' shared snapshots are kept (file-image.ts); undefined = a per-user folder under
   * the temporary folder; null = read each file into this process's heap instead of mapping it.
   */
  snapshotDir?: string | null | undefined;
  /**
   * Fill each file's record table in the background after it loads (at open and after a reload), so
   * no query pays for decoding a record it meets first. For the processes that answer queries; the
   * others fill their tables as lookups meet records.
   */
  prefill?: boolean;
}

/** A background prefill works in slices this long (ms), then lets queries run. */
const PREFILL_SLICE_MS = 2;

export interface ReloadingGeoLocator extends GeoLocator {
  /** Stops the reload timer. Lookups keep working with the data loaded last. */
  close(): void;
  /**
   * Re-reads every file now, whether or not it changed. Files that load are swapped in; if any
   * file fails, the old data for it is kept and the promise rejects with E_CONFIG naming the file(s).
   */
  reloadNow(): Promise<void>;
  /**
   * How many times a file was swapped in since open. Callers that cache lookup results can compare it
   * to drop their cache after a reload.
   */
  reloads(): number;
  /** Settles when the background prefill of the files loaded so far is over (at once without `prefill`). */
  prefilled(): Promise<void>;
}

/** IPv4-mapped IPv6 bytes → the 4 IPv4 bytes; anything else unchanged. */
function unmapped(bytes: Uint8Array): Uint8Array {
  if (bytes.length !== 16 || bytes[10] !== 0xff || bytes[11] !== 0xff) return bytes;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return bytes;
  return bytes.subarray(12, 16);
}

class MaxmindLocator implements ReloadingGeoLocator {
  private databases: readonly LoadedDatabase[];
  private readonly watcher: DatabaseWatcher;

  private readonly log: Logger;
  private closed = false;
  /** Prefills in progress. */
  private readonly filling = new Set<Promise<void>>();

  constructor(databases: readonly LoadedDatabase[], options: GeoLocatorOptions) {
    this.databases = databases;
    this.log = (options.logger ?? silentLogger).child({ component: 'geo' });
    const prefill = options.prefill === true;
    this.watcher = new DatabaseWatcher(databases, {
      log: this.log,
      reloadCheckSeconds: options.reloadCheckSeconds ?? 0,
      imageOptions: imageOptions(options),
      onReloadError: options.onReloadError,
      swap: (next) => {
        const before = this.databases;
        this.databases = next;
        if (prefill) for (const db of next) if (!before.includes(db)) this.prefill(db);
      },
    });
    if (prefill) for (const db of databases) this.prefill(db);
  }

  /**
   * Decodes every record of `db` into its table in the background: a walk of the whole search tree
   * in slices of PREFILL_SLICE_MS between queries (GeoLite2 City IPv4, 116k records: about 0.5 s
   * of CPU). Stops when the file is swapped out or the locator closes; until it ends, lookups still
   * decode the records they meet first.
   */
  private prefill(db: LoadedDatabase): void {
    const walk = db.tree.dataWalk();
    const started = performance.now();
    const addRecord = (offset: number): void => {
      this.slotOf(db, offset);
    };
    const done = new Promise<void>((finish) => {
      const slice = (): void => {
        if (this.closed || !this.databases.includes(db)) return finish();
        const until = performance.now() + PREFILL_SLICE_MS;
        let more = true;
        try {
          while (more && performance.now() < until) more = walk.step(2048, addRecord);
        } catch (err) {
          this.log.warn({ path: db.path, err: String(err) }, 'geo record prefill stopped');
          return finish();
        }
        if (more) {
          setImmediate(slice);
          return;
        }
        this.log.info(
          { path: db.path, records: db.records.size, ms: Math.round(performance.now() - started) },
          'geo records prefilled',
        );
        finish();
      };
      setImmediate(slice);
    });
    this.filling.add(done);
    void done.then(() => this.filling.delete(done));
  }

  lookup(ip: string): GeoResult | undefined {
    if (typeof ip !== 'string') return undefined;
    const bytes = ipToBytes(ip);
    return bytes === undefined ? undefined : (this.lookupBytes(bytes) as GeoHit).toJSON();
  }

  /** `address` must stay unchanged while the result is used (the network text is made from it). */
  lookupBytes(address: Uint8Array): GeoResult | undefined {
    const bytes = unmapped(address);
    if (bytes.length !== 4 && bytes.length !== 16) return undefined;
    const max = bytes.length * 8;
    // When an earlier file has no record for the address, the answer also depends on that file's
    // empty network: the combined network is the more specific of the two.
    let missDepth = 0;
    const databases = this.databases;
    for (let index = 0; index < databases.length; index++) {
      const db = databases[index]!;
      if (max === 128 && db.ipVersion === 4) continue;
      let slot: number;
      let depth: number;
      let offset: number;
      try {
        offset = db.tree.find(bytes);
        depth = db.tree.depth;
        slot = offset === NO_RECORD ? -1 : this.slotOf(db, offset);
      } catch {
        continue;
      }
      if (slot < 0 || !db.records.locates(slot)) {
        if (depth > missDepth) missDepth = depth;
        continue;
      }
      // The depth counts from the address's own family's root (IPv4 from the ::/96 node of an
      // IPv6 tree), so the prefix is already in that family; clamp for safety.
      const prefixLength = Math.max(0, Math.min(max, Math.max(depth, missDepth)));
      // Offset and file index together name the record (8 files at most share the key space).
      return new GeoHit(db.records, slot, bytes, prefixLength, offset * 8 + (index & 7));
    }
    // Not located: the answer still depends on the empty network the address falls in (other
    // addresses nearby may be located), so report that network for the ECS scope.
    const prefixLength = Math.min(max, missDepth);
    return new GeoHit(undefined, -1, bytes, prefixLength, -1);
  }

  /**
   * The slot of the record at a data offset in the file's table; decoded (by maxmind's decoder, at
   * that offset) and added only the first time the offset is seen.
   */
  private slotOf(db: LoadedDatabase, offset: number): number {
    const slot = db.records.find(offset);
    if (slot >= 0) return slot;
    const record = db.decodeAt(offset);
    return db.records.add(offset, record === null || typeof record !== 'object' ? null : normalise(record));
  }

  describe(): readonly {
    path: string;
    databaseType: string;
    buildEpoch: string;
    ipVersion: number;
    image: 'mapped' | 'read';
  }[] {
    return this.databases.map((d) => ({
      path: d.path,
      databaseType: d.databaseType,
      buildEpoch: d.buildEpoch,
      ipVersion: d.ipVersion,
      image: d.image.kind,
    }));
  }

  reloads(): number {
    return this.watcher.reloads();
  }

  async prefilled(): Promise<void> {
    while (this.filling.size > 0) await Promise.all(this.filling);
  }

  close(): void {
    this.closed = true;
    this.watcher.close();
    // Not from a worker thread: the primary's locator, which closes last, removes the snapshots, so
    // that a thread restarted after a crash finds the same file and shares the process's mapping
    // (map_file.c) instead of mapping a fresh copy.
    if (isMainThread) for (const db of this.databases) void releaseSnapshot(db.image.snapshot);
  }

  reloadNow(): Promise<void> {
    return this.watcher.reloadNow();
  }
}

const imageOptions = (options: GeoLocatorOptions): ImageOptions =>
  options.snapshotDir === undefined ? {} : { snapshotDir: options.snapshotDir };

/**
 * Opens the mmdb files in `paths` (tried in this order for each lookup) and starts watching them.
 * Throws MeridianError E_CONFIG naming the file when one is missing or not a valid database.
 */
export async function openGeoLocator(
  paths: readonly string[],
  options: GeoLocatorOptions = {},
): Promise<ReloadingGeoLocator> {
  if (paths.length === 0) throw new MeridianError('E_CONFIG', 'no geo database files given');
  if (paths.length > 8)
    throw new MeridianError('E_CONFIG', `at most 8 geo database files, got ${paths.length}`);
  const databases = await Promise.all(paths.map((path) => loadAtOpen(path, imageOptions(options))));
  const locator = new MaxmindLocator(Object.freeze(databases), options);
  const log = (options.logger ?? silentLogger).child({ component: 'geo' });
  log.info({ databases: locator.describe() }, 'geo databases loaded');
  const fallback = databases.find((d) => d.image.kind === 'read' && options.snapshotDir !== null);
  if (fallback !== undefined) {
    log.warn(
      { reason: fallback.image.fallbackReason },
      'geo databases read into this process instead of shared through a mapped snapshot',
    );
  }
  return locator;
}
