// Geolocation over MaxMind DB files (maxmind's Reader), with a safe hot reload.
//
// Reads two record layouts:
// - GeoIP2 / GeoLite2 City and Country: `country.iso_code` (else `registered_country.iso_code`),
//   `continent.code`, `location.latitude` / `location.longitude`;
// - the flat @ip-location-db layout: `country_code`, `latitude`, `longitude` (numbers or strings).
// A missing continent is derived from the country (continents.ts).
//
// Several files are tried in order; the first that has a record for the address answers (its network
// narrowed, if need be, to the empty network of an earlier file that missed). An IPv4-only
// database is never asked about an IPv6 address (its tree has no IPv6 bits). IPv4-mapped IPv6
// addresses (::ffff:a.b.c.d) are looked up as IPv4.
//
// The query path is `lookupBytes`: the address bytes walk the search tree over the file's buffer
// (mmdb-tree.ts) to a data-record offset, and the record's normalised form is kept per offset
// (there are far fewer location records than networks), so a lookup decodes nothing once its
// record was seen. The network text is made only when asked for (explain, logs). `lookup` takes
// text for the admin API and tests and gives the same answers as plain objects.
//
// Hot reload: every `reloadCheckSeconds` the files are stat'ed; a changed file is read whole, parsed
// with `new Reader(buffer)` inside try/catch, its metadata checked and a few test lookups run, and only
// then is the new set of readers swapped in (one reference assignment). A corrupt or half-written file
// keeps the old reader: the error is logged and passed to `onReloadError`. maxmind's own
// `watchForUpdates` is not used: it crashes the process on a bad file.
import { stat, readFile } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { Reader, type CityResponse } from 'maxmind';
import { MeridianError, describeError } from '../../core/errors.js';
import { bytesToIp, ipToBytes, maskBytes } from '../../core/ip.js';
import { silentLogger, type Logger } from '../../infra/logger.js';
import { continentOf } from './continents.js';
import { NO_RECORD, SearchTree } from './mmdb-tree.js';
import type { GeoLocator, GeoResult } from './types.js';

export interface GeoLocatorOptions {
  logger?: Logger;
  /** Seconds between checks of the files' size and modification time; 0 or absent = no automatic reload. */
  reloadCheckSeconds?: number;
  /** Called when a changed file could not be loaded (the previous data keeps being served). */
  onReloadError?: (path: string, err: unknown) => void;
  /**
   * Normalised records kept per database file, by data offset (two generations of this size).
   * Default 65536: the bundled GeoLite2 City IPv4 file has 116k distinct records.
   */
  recordCacheSize?: number;
}

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
}

interface FileSignature {
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly ino: number;
}

interface LoadedDatabase {
  readonly path: string;
  readonly reader: Reader<CityResponse>;
  readonly tree: SearchTree;
  readonly records: RecordCache;
  readonly ipVersion: number;
  readonly databaseType: string;
  readonly buildEpoch: string;
  readonly signature: FileSignature;
}

interface Normalised {
  readonly country?: string;
  readonly continent?: string;
  readonly lat?: number;
  readonly lon?: number;
}

const signatureOf = (s: Stats): FileSignature => ({
  size: s.size,
  mtimeMs: s.mtimeMs,
  ctimeMs: s.ctimeMs,
  ino: s.ino,
});

const sameSignature = (a: FileSignature, b: FileSignature): boolean =>
  a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino;

/**
 * Normalised records by data offset, two generations of `max` entries each: a hot record survives
 * a rotation, memory stays bounded (a record is a few short strings and two numbers, ~150 bytes).
 * `null`: the offset holds something that is not a location record.
 */
class RecordCache {
  private recent = new Map<number, Normalised | null>();
  private older = new Map<number, Normalised | null>();
  constructor(private readonly max: number) {}
  get(offset: number): Normalised | null | undefined {
    const hit = this.recent.get(offset);
    if (hit !== undefined) return hit;
    const old = this.older.get(offset);
    if (old !== undefined) this.set(offset, old);
    return old;
  }
  set(offset: number, value: Normalised | null): void {
    if (this.recent.size >= this.max) {
      this.older = this.recent;
      this.recent = new Map();
    }
    this.recent.set(offset, value);
  }
}

const MIN_SANE_SIZE = 64;

/** Parses and checks one database image. Throws a plain Error describing what is wrong. */
function buildReader(
  path: string,
  buffer: Buffer,
  signature: FileSignature,
  cacheSize: number,
): LoadedDatabase {
  if (buffer.length < MIN_SANE_SIZE) throw new Error(`file too small (${buffer.length} bytes)`);
  // No decoder cache: each record is decoded once and then kept normalised (RecordCache).
  const reader = new Reader<CityResponse>(buffer);
  const m = reader.metadata;
  if (typeof m.databaseType !== 'string' || m.databaseType === '')
    throw new Error('metadata has no database_type');
  if (m.ipVersion !== 4 && m.ipVersion !== 6)
    throw new Error(`metadata ip_version ${String(m.ipVersion)} is not 4 or 6`);
  if (m.recordSize !== 24 && m.recordSize !== 28 && m.recordSize !== 32) {
    throw new Error(`metadata record_size ${String(m.recordSize)} is not 24, 28 or 32`);
  }
  if (!Number.isInteger(m.nodeCount) || m.nodeCount <= 0)
    throw new Error(`metadata node_count ${m.nodeCount} is not sane`);
  if (m.searchTreeSize + 16 > buffer.length) {
    throw new Error(
      `search tree (${m.searchTreeSize} bytes) does not fit in the file (${buffer.length} bytes)`,
    );
  }
  // Test lookups: a damaged tree or data section usually throws here rather than in production.
  const probes =
    m.ipVersion === 6 ? ['192.0.2.1', '8.8.8.8', '2001:db8::1', '2001:4860::1'] : ['192.0.2.1', '8.8.8.8'];
  for (const ip of probes) reader.getWithPrefixLength(ip);
  const epoch =
    m.buildEpoch instanceof Date && !Number.isNaN(m.buildEpoch.getTime()) ? m.buildEpoch.toISOString() : '';
  return {
    path,
    reader,
    tree: new SearchTree(buffer, m),
    records: new RecordCache(Math.max(1, cacheSize)),
    ipVersion: m.ipVersion,
    databaseType: m.databaseType,
    buildEpoch: epoch,
    signature,
  };
}

function field(obj: unknown, key: string): unknown {
  return typeof obj === 'object' && obj !== null ? (obj as Record<string, unknown>)[key] : undefined;
}

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function num(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

// Records are shared objects cached by maxmind: never mutate them. Their normalised form is cached by
// identity, so a hot network costs one WeakMap lookup.
const normalisedCache = new WeakMap<object, Normalised>();

function normalise(record: object): Normalised {
  const hit = normalisedCache.get(record);
  if (hit !== undefined) return hit;
  const countryRaw =
    text(field(field(record, 'country'), 'iso_code')) ??
    text(field(field(record, 'registered_country'), 'iso_code')) ??
    text(field(record, 'country_code'));
  const country =
    countryRaw !== undefined && /^[A-Za-z]{2}$/.test(countryRaw) ? countryRaw.toUpperCase() : undefined;
  const continentRaw =
    text(field(field(record, 'continent'), 'code')) ?? text(field(record, 'continent_code'));
  const continent =
    continentRaw !== undefined && /^[A-Za-z]{2}$/.test(continentRaw)
      ? continentRaw.toUpperCase()
      : country !== undefined
        ? continentOf(country)
        : undefined;
  const location = field(record, 'location');
  const lat = num(field(location, 'latitude')) ?? num(field(record, 'latitude'));
  const lon = num(field(location, 'longitude')) ?? num(field(record, 'longitude'));
  const coords = lat !== undefined && lon !== undefined && Math.abs(lat) <= 90 && Math.abs(lon) <= 180;
  const out: Normalised = Object.freeze({
    ...(country === undefined ? {} : { country }),
    ...(continent === undefined ? {} : { continent }),
    ...(coords ? { lat, lon } : {}),
  });
  normalisedCache.set(record, out);
  return out;
}

const NOT_LOCATED: Normalised = Object.freeze({});

/**
 * A lookup result on the query path: the shared normalised record, the prefix, and the network's
 * bytes; the network text is built only when read. Read-only (getters, no setters).
 */
class GeoHit implements GeoResult {
  /** `address`: owned bytes of the looked-up address (masked only when the network is read). */
  constructor(
    private readonly record: Normalised,
    private readonly address: Uint8Array,
    readonly prefixLength: number,
    readonly recordKey: number,
  ) {}
  get country(): string | undefined {
    return this.record.country;
  }
  get continent(): string | undefined {
    return this.record.continent;
  }
  get lat(): number | undefined {
    return this.record.lat;
  }
  get lon(): number | undefined {
    return this.record.lon;
  }
  get network(): string {
    return `${bytesToIp(maskBytes(this.address, this.prefixLength))}/${this.prefixLength}`;
  }
  /** The plain form (as `lookup` returns it and JSON shows it; without the record identity). */
  toJSON(): GeoResult {
    return Object.freeze({ ...this.record, network: this.network, prefixLength: this.prefixLength });
  }
}

/** IPv4-mapped IPv6 bytes → the 4 IPv4 bytes; anything else unchanged. */
function unmapped(bytes: Uint8Array): Uint8Array {
  if (bytes.length !== 16 || bytes[10] !== 0xff || bytes[11] !== 0xff) return bytes;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return bytes;
  return bytes.subarray(12, 16);
}

class MaxmindLocator implements ReloadingGeoLocator {
  private databases: readonly LoadedDatabase[];
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private swaps = 0;
  /** Signature of a file version that failed to load, so a broken file is reported once, not every tick. */
  private readonly failed = new Map<string, FileSignature>();
  private readonly log: Logger;

  constructor(
    databases: readonly LoadedDatabase[],
    private readonly options: GeoLocatorOptions,
  ) {
    this.databases = databases;
    this.log = (options.logger ?? silentLogger).child({ component: 'geo' });
    const seconds = options.reloadCheckSeconds ?? 0;
    if (seconds > 0) {
      this.timer = setInterval(() => {
        this.check(false).catch((err: unknown) =>
          this.log.error({ err: describeError(err) }, 'geo reload check failed'),
        );
      }, seconds * 1000);
      this.timer.unref();
    }
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
      let geo: Normalised | null;
      let depth: number;
      let offset: number;
      try {
        offset = db.tree.find(bytes);
        depth = db.tree.depth;
        geo = offset === NO_RECORD ? null : this.recordAt(db, offset, bytes);
      } catch {
        continue;
      }
      if (geo === null || (geo.country === undefined && geo.lat === undefined)) {
        if (depth > missDepth) missDepth = depth;
        continue;
      }
      // The depth counts from the address's own family's root (IPv4 from the ::/96 node of an
      // IPv6 tree), so the prefix is already in that family; clamp for safety.
      const prefixLength = Math.max(0, Math.min(max, Math.max(depth, missDepth)));
      // Offset and file index together name the record (8 files at most share the key space).
      return new GeoHit(geo, bytes, prefixLength, offset * 8 + (index & 7));
    }
    // Not located: the answer still depends on the empty network the address falls in (other
    // addresses nearby may be located), so report that network for the ECS scope.
    const prefixLength = Math.min(max, missDepth);
    return new GeoHit(NOT_LOCATED, bytes, prefixLength, -1);
  }

  /**
   * The normalised record at a data offset. Decoded (through maxmind, by the address that led
   * there) only the first time the offset is seen while it is cached.
   */
  private recordAt(db: LoadedDatabase, offset: number, bytes: Uint8Array): Normalised | null {
    const hit = db.records.get(offset);
    if (hit !== undefined) return hit;
    const record = db.reader.get(bytesToIp(bytes));
    const geo = record === null || typeof record !== 'object' ? null : normalise(record);
    db.records.set(offset, geo);
    return geo;
  }

  describe(): readonly { path: string; databaseType: string; buildEpoch: string; ipVersion: number }[] {
    return this.databases.map((d) => ({
      path: d.path,
      databaseType: d.databaseType,
      buildEpoch: d.buildEpoch,
      ipVersion: d.ipVersion,
    }));
  }

  reloads(): number {
    return this.swaps;
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  async reloadNow(): Promise<void> {
    // Wait for a timer-driven check in progress so two reloads never interleave.
    if (this.checking !== undefined) await this.checking.catch(() => undefined);
    const failures = await this.runCheck(true);
    if (failures.length > 0) {
      throw new MeridianError(
        'E_CONFIG',
        `geo database reload failed (previous data kept): ${failures.map((f) => `${f.path}: ${describeError(f.err)}`).join('; ')}`,
      );
    }
  }

  private async check(force: boolean): Promise<void> {
    if (this.checking !== undefined) return;
    await this.runCheck(force);
  }

  private runCheck(force: boolean): Promise<{ path: string; err: unknown }[]> {
    const run = this.checkFiles(force);
    const tracked = run.then(
      () => undefined,
      () => undefined,
    );
    this.checking = tracked;
    return run.finally(() => {
      if (this.checking === tracked) this.checking = undefined;
    });
  }

  private async checkFiles(force: boolean): Promise<{ path: string; err: unknown }[]> {
    const failures: { path: string; err: unknown }[] = [];
    const next = [...this.databases];
    let changed = false;
    for (let i = 0; i < next.length; i++) {
      const current = next[i];
      if (current === undefined) continue;
      const path = current.path;
      let signature: FileSignature;
      try {
        signature = signatureOf(await stat(path));
      } catch (err) {
        this.reportFailure(path, undefined, err, failures, force);
        continue;
      }
      if (!force && sameSignature(signature, current.signature)) continue;
      const lastFailure = this.failed.get(path);
      if (!force && lastFailure !== undefined && sameSignature(lastFailure, signature)) continue;
      try {
        const buffer = await readFile(path);
        // The file may have changed again while it was read; the next check picks that up.
        const loaded = buildReader(path, buffer, signature, this.options.recordCacheSize ?? 65536);
        next[i] = loaded;
        changed = true;
        this.failed.delete(path);
        this.log.info(
          {
            path,
            databaseType: loaded.databaseType,
            buildEpoch: loaded.buildEpoch,
            previousType: current.databaseType,
          },
          'geo database reloaded',
        );
      } catch (err) {
        this.reportFailure(path, signature, err, failures, force);
      }
    }
    if (changed) {
      this.databases = Object.freeze(next);
      this.swaps++;
    }
    return failures;
  }

  private reportFailure(
    path: string,
    signature: FileSignature | undefined,
    err: unknown,
    failures: { path: string; err: unknown }[],
    force: boolean,
  ): void {
    failures.push({ path, err });
    const key = signature ?? { size: -1, mtimeMs: -1, ctimeMs: -1, ino: -1 };
    const previous = this.failed.get(path);
    if (!force && previous !== undefined && sameSignature(previous, key)) return;
    this.failed.set(path, key);
    this.log.error(
      { path, err: describeError(err) },
      'geo database reload failed; keeping the previous data',
    );
    try {
      this.options.onReloadError?.(path, err);
    } catch (callbackErr) {
      this.log.error({ err: describeError(callbackErr) }, 'geo onReloadError callback threw');
    }
  }
}

async function loadAtOpen(path: string, cacheSize: number): Promise<LoadedDatabase> {
  let buffer: Buffer;
  let signature: FileSignature;
  try {
    signature = signatureOf(await stat(path));
    buffer = await readFile(path);
  } catch (err) {
    throw new MeridianError('E_CONFIG', `geo database ${path}: cannot read: ${describeError(err)}`, {
      cause: err,
    });
  }
  try {
    return buildReader(path, buffer, signature, cacheSize);
  } catch (err) {
    throw new MeridianError(
      'E_CONFIG',
      `geo database ${path}: not a valid MaxMind DB file: ${describeError(err)}`,
      {
        cause: err,
      },
    );
  }
}

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
  const cacheSize = options.recordCacheSize ?? 65536;
  const databases = await Promise.all(paths.map((path) => loadAtOpen(path, cacheSize)));
  const locator = new MaxmindLocator(Object.freeze(databases), options);
  (options.logger ?? silentLogger)
    .child({ component: 'geo' })
    .info({ databases: locator.describe() }, 'geo databases loaded');
  return locator;
}
