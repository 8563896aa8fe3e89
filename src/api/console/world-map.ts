// The console's world map, computed on the server once: world-atlas' Natural Earth 1:110m country
// shapes projected (d3-geo, Natural Earth projection) into SVG path strings, so the browser gets
// ready-made paths and needs neither d3 nor a build step. Region markers are placed with the same
// projection (`project`), so they sit where the shapes are.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { geoNaturalEarth1, geoPath, type GeoProjection } from 'd3-geo';
import { feature } from 'topojson-client';
import type { FeatureCollection, Geometry } from 'geojson';
import type { GeometryCollection, Topology } from 'topojson-specification';

export const MAP_WIDTH = 960;
export const MAP_HEIGHT = 500;

export interface WorldMap {
  readonly width: number;
  readonly height: number;
  /** One entry per country shape; `id` is the ISO 3166-1 numeric code world-atlas uses. */
  readonly countries: readonly { readonly id: string; readonly name: string; readonly d: string }[];
}

let projection: GeoProjection | undefined;
let cached: string | undefined;

function atlas(): FeatureCollection<Geometry, { name: string }> {
  const require = createRequire(import.meta.url);
  const topology = JSON.parse(
    readFileSync(require.resolve('world-atlas/countries-110m.json'), 'utf8'),
  ) as Topology<{ countries: GeometryCollection<{ name: string }> }>;
  return feature(topology, topology.objects.countries);
}

function mapProjection(): GeoProjection {
  projection ??= geoNaturalEarth1().fitExtent(
    [
      [4, 4],
      [MAP_WIDTH - 4, MAP_HEIGHT - 4],
    ],
    { type: 'Sphere' },
  );
  return projection;
}

/** The map as JSON text (about 90 kB), built on first use and kept. */
export function worldMapJson(): string {
  if (cached !== undefined) return cached;
  const path = geoPath(mapProjection()).digits(1);
  const map: WorldMap = {
    width: MAP_WIDTH,
    height: MAP_HEIGHT,
    countries: atlas().features.map((f, i) => ({
      // Three shapes (N. Cyprus, Somaliland, Kosovo) have no ISO code in world-atlas.
      id: f.id === undefined ? `x${i}` : String(f.id),
      name: f.properties.name,
      d: path(f) ?? '',
    })),
  };
  cached = JSON.stringify(map);
  return cached;
}

/** Map coordinates of a point, rounded to 0.1 px; undefined if the projection cannot place it. */
export function project(lon: number, lat: number): { x: number; y: number } | undefined {
  const p = mapProjection()([lon, lat]);
  if (p === null) return undefined;
  return { x: Math.round(p[0] * 10) / 10, y: Math.round(p[1] * 10) / 10 };
}
