// Geo records as the query path uses them: a database record normalised once (country, continent,
// coordinates) from either layout — GeoIP2 / GeoLite2 City and Country (`country.iso_code`, else
// `registered_country.iso_code`, `continent.code`, `location.latitude` / `location.longitude`) or
// the flat @ip-location-db one (`country_code`, `latitude`, `longitude`, numbers or strings) — the
// per-file cache of normalised records by data offset, and GeoHit, the lookup result that builds
// its network text only when read. A missing continent is derived from the country (continents.ts).
import { bytesToIp, maskBytes } from '../../core/ip.js';
import { continentOf } from './continents.js';
import type { GeoResult } from './types.js';

export interface Normalised {
  readonly country?: string;
  readonly continent?: string;
  readonly lat?: number;
  readonly lon?: number;
}

/**
 * Normalised records by data offset, two generations of `max` entries each: a hot record survives
 * a rotation, memory stays bounded (a record is a few short strings and two numbers, ~150 bytes).
 * `null`: the offset holds something that is not a location record.
 */
export class RecordCache {
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

export function normalise(record: object): Normalised {
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

/** The record of an address no database locates. */
export const NOT_LOCATED: Normalised = Object.freeze({});

/**
 * A lookup result on the query path: the shared normalised record, the prefix, and the network's
 * bytes; the network text is built only when read. Read-only (getters, no setters).
 */
export class GeoHit implements GeoResult {
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
