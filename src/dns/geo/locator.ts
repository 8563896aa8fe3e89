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
// database is never asked about an IPv6 address (maxmind would walk its tree with the IPv6 bits and
// return nonsense). IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are looked up as IPv4.
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
import { bytesToIp, ipFamily, ipToBytes, maskBytes, unmapIPv4 } from '../../core/ip.js';
import { silentLogger, type Logger } from '../../infra/logger.js';
import { continentOf } from './continents.js';
import type { GeoLocator, GeoResult } from './types.js';

export interface GeoLocatorOptions {
  logger?: Logger;
  /** Seconds between checks of the files' size and modification time; 0 or absent = no automatic reload. */
  reloadCheckSeconds?: number;
  /** Called when a changed file could not be loaded (the previous data keeps being served). */
  onReloadError?: (path: string, err: unknown) => void;
  /** Decoded records cached per database file (maxmind's decoder cache). Default 10000. */
  recordCacheSize?: number;
  /** Lookup results cached per address string (two generations of this size; 0 = off). Default 32768. */
  lookupCacheSize?: number;
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

/** A small bounded cache for maxmind's decoder (keyed by data offset). Oldest entry out first. */
class BoundedCache {
  private readonly map = new Map<string | number, unknown>();
  constructor(private readonly max: number) {}
  get(key: string | number): unknown {
    return this.map.get(key);
  }
  set(key: string | number, value: unknown): void {
    if (this.map.size >= this.max) {
      const oldest = this.map.keys().next();
      if (oldest.done !== true) this.map.delete(oldest.value);
    }
    this.map.set(key, value);
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
  const reader = new Reader<CityResponse>(buffer, { cache: new BoundedCache(cacheSize) });
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
  return { path, reader, ipVersion: m.ipVersion, databaseType: m.databaseType, buildEpoch: epoch, signature };
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

/** `a.b.c.d` masked to `prefix`, as text. */
function ipv4Network(ip: string, prefix: number): string {
  let n = 0;
  let part = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      n = n * 256 + part;
      part = 0;
    } else part = part * 10 + (c - 48);
  }
  n = n * 256 + part;
  const masked = prefix === 0 ? 0 : (n & (~0 << (32 - prefix))) >>> 0;
  return `${masked >>> 24}.${(masked >>> 16) & 255}.${(masked >>> 8) & 255}.${masked & 255}/${prefix}`;
}

function ipv6Network(ip: string, prefix: number): string {
  const bytes = ipToBytes(ip);
  return bytes === undefined ? `${ip}/${prefix}` : `${bytesToIp(maskBytes(bytes, prefix))}/${prefix}`;
}

class MaxmindLocator implements ReloadingGeoLocator {
  private databases: readonly LoadedDatabase[];
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private swaps = 0;
  /** Signature of a file version that failed to load, so a broken file is reported once, not every tick. */
  private readonly failed = new Map<string, FileSignature>();
  private readonly log: Logger;
  /** Two generations of lookup results by address string (null = not found); cleared on every swap. */
  private recent = new Map<string, GeoResult | null>();
  private older = new Map<string, GeoResult | null>();
  private readonly cacheSize: number;

  constructor(
    databases: readonly LoadedDatabase[],
    private readonly options: GeoLocatorOptions,
  ) {
    this.databases = databases;
    this.log = (options.logger ?? silentLogger).child({ component: 'geo' });
    this.cacheSize = Math.max(0, options.lookupCacheSize ?? 32768);
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
    if (this.cacheSize === 0) return this.uncachedLookup(ip);
    let hit = this.recent.get(ip);
    if (hit === undefined) {
      hit = this.older.get(ip);
      if (hit === undefined) hit = this.uncachedLookup(ip) ?? null;
      if (this.recent.size >= this.cacheSize) {
        this.older = this.recent;
        this.recent = new Map();
      }
      this.recent.set(ip, hit);
    }
    return hit ?? undefined;
  }

  private uncachedLookup(ip: string): GeoResult | undefined {
    let address = ip;
    const zone = address.indexOf('%');
    if (zone >= 0) address = address.slice(0, zone);
    let family = ipFamily(address);
    if (family === undefined) return undefined;
    if (family === 6) {
      const v4 = unmapIPv4(address);
      if (v4 !== address) {
        address = v4;
        family = 4;
      }
    }
    const max = family === 4 ? 32 : 128;
    // When an earlier file has no record for the address, the answer also depends on that file's
    // empty network: the combined network is the more specific of the two.
    let missDepth = 0;
    for (const db of this.databases) {
      if (family === 6 && db.ipVersion === 4) continue;
      let found: [CityResponse | null, number];
      try {
        found = db.reader.getWithPrefixLength(address);
      } catch {
        continue;
      }
      const record = found[0];
      const geo = record === null || typeof record !== 'object' ? undefined : normalise(record);
      if (geo === undefined || (geo.country === undefined && geo.lat === undefined)) {
        if (found[1] > missDepth) missDepth = found[1];
        continue;
      }
      // maxmind counts an IPv4 address's depth from the IPv4 subtree of an IPv6 database, so the
      // prefix is already in the address's own family; clamp for safety.
      const prefixLength = Math.max(0, Math.min(max, Math.max(found[1], missDepth)));
      const network = family === 4 ? ipv4Network(address, prefixLength) : ipv6Network(address, prefixLength);
      return Object.freeze({ ...geo, network, prefixLength });
    }
    // Not located: the answer still depends on the empty network the address falls in (other
    // addresses nearby may be located), so report that network for the ECS scope.
    const prefixLength = Math.min(max, missDepth);
    const network = family === 4 ? ipv4Network(address, prefixLength) : ipv6Network(address, prefixLength);
    return Object.freeze({ network, prefixLength });
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
        const loaded = buildReader(path, buffer, signature, this.options.recordCacheSize ?? 10000);
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
      this.recent = new Map();
      this.older = new Map();
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
  const cacheSize = options.recordCacheSize ?? 10000;
  const databases = await Promise.all(paths.map((path) => loadAtOpen(path, cacheSize)));
  const locator = new MaxmindLocator(Object.freeze(databases), options);
  (options.logger ?? silentLogger)
    .child({ component: 'geo' })
    .info({ databases: locator.describe() }, 'geo databases loaded');
  return locator;
}
