// Country → continent, for geo databases whose records carry no continent (the flat
// @ip-location-db layout, or partial GeoIP2 records). The table comes from `countries-list`.
import { countries } from 'countries-list';

/**
 * Where `countries-list` picks a different main continent for a transcontinental country than
 * GeoNames (which MaxMind's GeoIP2 `continent.code` follows), GeoIP2 wins so that a country is
 * in the same continent whichever database layout located it.
 */
const GEOIP2_CONTINENT: Readonly<Record<string, string>> = { RU: 'EU' };

const TABLE: ReadonlyMap<string, string> = new Map(
  Object.entries(countries).map(([code, country]) => [code, GEOIP2_CONTINENT[code] ?? country.continent]),
);

/** Two-letter continent code (AF AN AS EU NA OC SA) of an ISO 3166-1 alpha-2 country; undefined if unknown. */
export function continentOf(country: string): string | undefined {
  return TABLE.get(country.length === 2 ? country.toUpperCase() : country);
}
