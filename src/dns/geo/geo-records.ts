// Geo records as the query path uses them: a database record normalised once (country, continent,
// coordinates) from either layout — GeoIP2 / GeoLite2 City and Country (`country.iso_code`, else
// `registered_country.iso_code`, `continent.code`, `location.latitude` / `location.longitude`) or
// the flat @ip-location-db one (`country_code`, `latitude`, `longitude`, numbers or strings) — each
// file's table of normalised records by data offset (flat typed arrays), and GeoHit, the lookup
// result that reads its slot of that table and builds its network text only when read. A missing continent is derived from the country (continents.ts).
import { bytesToIp, maskBytes } from '../../core/ip.js';
import { continentOf } from './continents.js';
import type { GeoResult } from './types.js';

export interface Normalised {
  readonly country?: string;
  readonly continent?: string;
  readonly lat?: number;
  readonly lon?: number;
}

/** Initial slots of a RecordTable (it doubles when half full). */
const INITIAL_SLOTS = 1024;

/**
 * The normalised records of one database file by data offset, in flat typed arrays: filled as
 * offsets are first seen (decoded once, through maxmind), never evicted — its size is bounded by
 * the file's distinct records (GeoLite2 City IPv4: 116k, about 5 MB here, where a map of record
 * objects took twice that and churned once it overflowed). Holds no objects, so the collector never
 * walks it. Open addressing with linear probing; a slot's key is the offset + 1 (0 = empty).
 */
export class RecordTable {
  private keys = new Int32Array(INITIAL_SLOTS);
  private countries = new Uint16Array(INITIAL_SLOTS);
  private continents = new Uint16Array(INITIAL_SLOTS);
  private lats = new Float64Array(INITIAL_SLOTS);
  private lons = new Float64Array(INITIAL_SLOTS);
  /** 1: a location record; 0: the offset holds something else (not a map, say). */
  private locations = new Uint8Array(INITIAL_SLOTS);
  private mask = INITIAL_SLOTS - 1;
  private used = 0;
  /** Country and continent codes by index (0 = none). */
  private readonly codes: (string | undefined)[] = [undefined];
  private readonly codeIndex = new Map<string, number>();

  /** The slot of `offset`, or -1 when it was not added yet. */
  find(offset: number): number {
    const keys = this.keys;
    const key = offset + 1;
    for (let i = Math.imul(offset, 0x9e3779b1) & this.mask; ; i = (i + 1) & this.mask) {
      const k = keys[i]!;
      if (k === key) return i;
      if (k === 0) return -1;
    }
  }

  /** Adds the record at `offset` (null: not a location record); returns its slot. */
  add(offset: number, record: Normalised | null): number {
    if ((this.used + 1) * 2 > this.keys.length) this.grow();
    const slot = this.insert(offset + 1);
    this.used++;
    this.locations[slot] = record === null ? 0 : 1;
    this.countries[slot] = this.code(record?.country);
    this.continents[slot] = this.code(record?.continent);
    this.lats[slot] = record?.lat ?? Number.NaN;
    this.lons[slot] = record?.lon ?? Number.NaN;
    return slot;
  }

  /** Whether the slot holds a location with a country or coordinates (else: not located). */
  locates(slot: number): boolean {
    return this.locations[slot] === 1 && (this.countries[slot] !== 0 || !Number.isNaN(this.lats[slot]!));
  }
  country(slot: number): string | undefined {
    return this.codes[this.countries[slot]!];
  }
  continent(slot: number): string | undefined {
    return this.codes[this.continents[slot]!];
  }
  lat(slot: number): number | undefined {
    const v = this.lats[slot]!;
    return Number.isNaN(v) ? undefined : v;
  }
  lon(slot: number): number | undefined {
    const v = this.lons[slot]!;
    return Number.isNaN(v) ? undefined : v;
  }

  /** Records held. */
  get size(): number {
    return this.used;
  }

  /** Bytes of the arrays (for tests and the docs). */
  get bytes(): number {
    return this.keys.length * (4 + 2 + 2 + 8 + 8 + 1);
  }

  private code(code: string | undefined): number {
    if (code === undefined) return 0;
    let index = this.codeIndex.get(code);
    if (index === undefined) {
      index = this.codes.length;
      this.codes.push(code);
      this.codeIndex.set(code, index);
    }
    return index;
  }

  private insert(key: number): number {
    const keys = this.keys;
    let i = Math.imul(key - 1, 0x9e3779b1) & this.mask;
    while (keys[i] !== 0) i = (i + 1) & this.mask;
    keys[i] = key;
    return i;
  }

  private grow(): void {
    const { keys, countries, continents, lats, lons, locations } = this;
    const slots = keys.length * 2;
    this.keys = new Int32Array(slots);
    this.countries = new Uint16Array(slots);
    this.continents = new Uint16Array(slots);
    this.lats = new Float64Array(slots);
    this.lons = new Float64Array(slots);
    this.locations = new Uint8Array(slots);
    this.mask = slots - 1;
    for (let old = 0; old < keys.length; old++) {
      const key = keys[old]!;
      if (key === 0) continue;
      const slot = this.insert(key);
      this.countries[slot] = countries[old]!;
      this.continents[slot] = continents[old]!;
      this.lats[slot] = lats[old]!;
      this.lons[slot] = lons[old]!;
      this.locations[slot] = locations[old]!;
    }
  }
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

/** The fields the query path uses, from a decoded record of either layout (never mutated). */
export function normalise(record: object): Normalised {
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
  return {
    ...(country === undefined ? {} : { country }),
    ...(continent === undefined ? {} : { continent }),
    ...(coords ? { lat, lon } : {}),
  };
}

/**
 * A lookup result on the query path: a slot of a file's RecordTable (none: not located), the
 * prefix, and the network's bytes; the network text is built only when read. Read-only.
 */
export class GeoHit implements GeoResult {
  /** `address`: owned bytes of the looked-up address (masked only when the network is read). */
  constructor(
    private readonly table: RecordTable | undefined,
    private readonly slot: number,
    private readonly address: Uint8Array,
    readonly prefixLength: number,
    readonly recordKey: number,
  ) {}
  get country(): string | undefined {
    return this.table?.country(this.slot);
  }
  get continent(): string | undefined {
    return this.table?.continent(this.slot);
  }
  get lat(): number | undefined {
    return this.table?.lat(this.slot);
  }
  get lon(): number | undefined {
    return this.table?.lon(this.slot);
  }
  get network(): string {
    return `${bytesToIp(maskBytes(this.address, this.prefixLength))}/${this.prefixLength}`;
  }
  /** The plain form (as `lookup` returns it and JSON shows it; without the record identity). */
  toJSON(): GeoResult {
    const { country, continent, lat, lon } = this;
    return Object.freeze({
      ...(country === undefined ? {} : { country }),
      ...(continent === undefined ? {} : { continent }),
      ...(lat === undefined || lon === undefined ? {} : { lat, lon }),
      network: this.network,
      prefixLength: this.prefixLength,
    });
  }
}
