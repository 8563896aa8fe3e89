// The widest ECS scope (steering/scope-table.ts) against the exhaustive truth: two random synthetic
// IPv4 geo files (the second answers where the first has no data) and override CIDRs cut the whole
// IPv4 space into cells within which every address is answered the same; the truth is a fresh
// decision (`explain`, no cache, no table) per cell. For an address in every cell the scope the
// engine returns must (1) hold: every cell of the scope network has the same answer; (2) be
// maximal: the next wider network holds another answer or an override CIDR; (3) never be narrower
// than the geo network's scope (today's, which stays the fallback).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dnsSchema } from '../../../src/config/dns-schema.js';
import type { Region, Snapshot } from '../../../src/core/types.js';
import { openGeoLocator, type ReloadingGeoLocator } from '../../../src/dns/geo/locator.js';
import { SteeringEngine } from '../../../src/dns/steering/engine.js';
import { writeSyntheticMmdb, type SyntheticNetwork, type SyntheticRecord } from '../geo/synthetic-mmdb.js';

const NOW = 1_800_000_000_000;
const SPACE = 2 ** 32;

function region(id: string, lat: number, lon: number, i: number, extra: Partial<Region> = {}): Region {
  return {
    id,
    name: id,
    lat,
    lon,
    ipv4: [`10.0.0.${i + 1}`],
    ipv6: [],
    weight: 100,
    state: 'active',
    labels: {},
    requireHealth: false,
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
    ...extra,
  };
}

const SITES: [string, number, number][] = [
  ['fra', 50.11, 8.68],
  ['iad', 39.04, -77.49],
  ['sin', 1.35, 103.82],
  ['gru', -23.55, -46.63],
];

// Records: several per region's neighbourhood (different records, same answer) and one JP record
// steered by a country override.
const RECORDS: SyntheticRecord[] = [
  { country: 'DE', lat: 52.52, lon: 13.4 },
  { country: 'FR', lat: 48.86, lon: 2.35 },
  { country: 'US', lat: 40.71, lon: -74.0 },
  { country: 'CA', lat: 43.65, lon: -79.38 },
  { country: 'SG', lat: 1.29, lon: 103.85 },
  { country: 'ID', lat: -6.2, lon: 106.85 },
  { country: 'BR', lat: -22.9, lon: -43.2 },
  { country: 'AR', lat: -34.6, lon: -58.38 },
  { country: 'JP', lat: 35.68, lon: 139.69 },
];

/** xorshift32: deterministic random numbers in [0, 1). */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / SPACE;
  };
}

/**
 * A random partition of the IPv4 space into networks (/2 to /30) with records, some left empty;
 * neighbours tend to share a record (a "theme") so that merging has something to merge.
 */
function randomNetworks(seed: number, emptyShare: number): SyntheticNetwork[] {
  const rand = random(seed);
  const out: SyntheticNetwork[] = [];
  const pick = (): SyntheticRecord => RECORDS[Math.floor(rand() * RECORDS.length)]!;
  const visit = (network: number, depth: number, theme: SyntheticRecord): void => {
    const stop = depth >= 2 && (depth >= 30 || rand() < Math.min(0.9, 0.04 + depth * 0.03));
    if (stop) {
      if (rand() >= emptyShare) out.push({ network, prefix: depth, record: rand() < 0.7 ? theme : pick() });
      return;
    }
    const next = (): SyntheticRecord => (rand() < 0.3 ? pick() : theme);
    visit(network, depth + 1, next());
    visit((network | (1 << (31 - depth))) >>> 0, depth + 1, next());
  };
  visit(0, 0, pick());
  return out;
}

const toBytes = (n: number): Uint8Array =>
  Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
const toText = (n: number): string => toBytes(n).join('.');
const blockOf = (address: number, prefix: number): [number, number] => {
  const size = 2 ** (32 - prefix);
  const low = Math.floor(address / size) * size;
  return [low, low + size];
};

let dir: string;
let first: SyntheticNetwork[];
let second: SyntheticNetwork[];
let geo: ReloadingGeoLocator;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meridian-scope-'));
  first = randomNetworks(0x2545f491, 0.4);
  second = randomNetworks(0x9e3779b9, 0.3);
  writeFileSync(join(dir, 'first.mmdb'), writeSyntheticMmdb(first));
  writeFileSync(join(dir, 'second.mmdb'), writeSyntheticMmdb(second));
  geo = await openGeoLocator([join(dir, 'first.mmdb'), join(dir, 'second.mmdb')]);
});
after(() => {
  geo.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Setup {
  readonly engine: SteeringEngine;
  /** The same engine configuration without tables: today's scope (the geo network's). */
  readonly plain: SteeringEngine;
  readonly name: ReturnType<typeof nameOf>['name'];
  readonly overrides: readonly [number, number][];
  state: Snapshot;
}

function nameOf(steering: Record<string, unknown>) {
  const dns = dnsSchema.parse({
    steering,
    zones: [
      { name: 'example.test', soa: { mname: 'ns1', rname: 'h' }, ns: ['ns1'], balanced: [{ name: 'www' }] },
    ],
  });
  const name = dns.zones[0]?.balanced[0];
  assert.ok(name !== undefined);
  return { name, steering: dns.steering };
}

function setup(steering: Record<string, unknown>, cidrs: readonly string[] = []): Setup {
  const regions = SITES.map(([id, lat, lon], i) => region(id, lat, lon, i));
  const { name, steering: parsed } = nameOf(steering);
  const s: Setup = {
    name,
    overrides: cidrs.map((text) => {
      const [address, prefix] = text.split('/');
      const start = address!.split('.').reduce((n, part) => n * 256 + Number(part), 0);
      return blockOf(start, Number(prefix));
    }),
    state: {
      version: 1,
      syncedAt: NOW,
      regions: new Map(regions.map((r) => [r.id, r])),
      backends: new Map(),
      health: new Map(),
    },
    engine: undefined as unknown as SteeringEngine,
    plain: undefined as unknown as SteeringEngine,
  };
  const options = { snapshot: () => s.state, locator: geo, steering: parsed, startedAt: NOW - 3_600_000 };
  return Object.assign(s, {
    engine: new SteeringEngine(options),
    plain: new SteeringEngine({ ...options, scopeTables: 0 }),
  });
}

/** Cell boundaries: every network edge of both files and of the overrides. */
function cellStarts(overrides: readonly [number, number][]): number[] {
  const edges = new Set<number>([0, SPACE]);
  for (const n of [...first, ...second]) {
    const [low, high] = blockOf(n.network, n.prefix);
    edges.add(low);
    edges.add(high);
  }
  for (const [low, high] of overrides) {
    edges.add(low);
    edges.add(high);
  }
  return [...edges].sort((a, b) => a - b);
}

/** Index of the cell holding `address` (last start ≤ address). */
function cellOf(starts: readonly number[], address: number): number {
  let lo = 0;
  let hi = starts.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= address) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

interface Outcome {
  readonly cells: number;
  readonly averageScope: number;
  readonly averagePlainScope: number;
}

/** The checks of the header over every cell (its first address and a random one inside). */
function checkExhaustively(s: Setup): Outcome {
  const { engine, plain } = s;
  const { name } = s;
  const starts = cellStarts(s.overrides);
  const cells = starts.length - 1;
  // Truth per cell, and runs of consecutive cells with the same answer.
  const run = new Int32Array(cells);
  let previous = '';
  for (let i = 0; i < cells; i++) {
    const d = engine.explain({ name, family: 4, source: toBytes(starts[i]!), now: NOW });
    const key = `${d.outcome}|${d.addresses.join(',')}`;
    run[i] = i === 0 ? 0 : key === previous ? run[i - 1]! : run[i - 1]! + 1;
    previous = key;
  }
  const uniform = (low: number, high: number): boolean =>
    run[cellOf(starts, low)] === run[cellOf(starts, high - 1)];
  const touchesOverride = (low: number, high: number): boolean =>
    s.overrides.some(([a, b]) => a < high && low < b);
  const rand = random(0x1234567);
  let scopeSum = 0;
  let plainSum = 0;
  let asked = 0;
  for (let i = 0; i < cells; i++) {
    const low = starts[i]!;
    const size = starts[i + 1]! - low;
    for (const address of [low, low + Math.floor(rand() * size)]) {
      const query = {
        name,
        family: 4 as const,
        source: Uint8Array.of(192, 0, 2, 53),
        ecs: { address: toBytes(address), sourcePrefix: 32 },
        now: NOW,
      };
      const { scopePrefix } = engine.answer(query);
      const today = plain.answer(query).scopePrefix;
      const where = `${toText(address)} (scope /${scopePrefix}, geo network /${today})`;
      assert.ok(scopePrefix <= today, `${where}: narrower than the geo network's scope`);
      const [bLow, bHigh] = blockOf(address, scopePrefix);
      assert.ok(uniform(bLow, bHigh), `${where}: ${toText(bLow)}/${scopePrefix} holds another answer`);
      const inOverride = touchesOverride(address, address + 1);
      if (scopePrefix > 0 && !inOverride) {
        const [wLow, wHigh] = blockOf(address, scopePrefix - 1);
        assert.ok(
          !uniform(wLow, wHigh) || touchesOverride(wLow, wHigh),
          `${where}: /${scopePrefix - 1} gets the same answer everywhere, scope not maximal`,
        );
      }
      scopeSum += scopePrefix;
      plainSum += today;
      asked++;
    }
  }
  return { cells, averageScope: scopeSum / asked, averagePlainScope: plainSum / asked };
}

void describe('steering: the widest ECS scope against the exhaustive truth', () => {
  void it('builds random databases of a few hundred networks each', () => {
    assert.ok(first.length >= 200 && first.length <= 5000, `${first.length} networks in the first file`);
    assert.ok(second.length >= 200 && second.length <= 5000, `${second.length} in the second`);
  });

  void it('is exact and maximal over every cell, with two files and CIDR/country overrides', async (t) => {
    const cidrs = ['96.0.0.0/9', '200.16.0.0/12', '17.34.0.0/20', '160.0.0.0/30'];
    const s = setup(
      { overrides: { cidr: Object.fromEntries(cidrs.map((c) => [c, ['gru']])), country: { JP: ['iad'] } } },
      cidrs,
    );
    assert.equal(await s.engine.prepareScopes(s.name, 4, NOW), true);
    const o = checkExhaustively(s);
    t.diagnostic(
      `${o.cells} cells; average scope /${o.averageScope.toFixed(2)}, geo network /${o.averagePlainScope.toFixed(2)}`,
    );
    assert.ok(o.averageScope < o.averagePlainScope, 'merging widened some scopes');

    // A state change drops the table: today's scope until it is rebuilt, then exact again.
    const regions = new Map(s.state.regions);
    regions.set('fra', { ...regions.get('fra')!, state: 'draining' });
    s.state = { ...s.state, version: 2, regions };
    const probe = {
      name: s.name,
      family: 4 as const,
      source: Uint8Array.of(192, 0, 2, 53),
      ecs: { address: toBytes(first[0]!.network), sourcePrefix: 32 },
      now: NOW,
    };
    assert.equal(s.engine.answer(probe).scopePrefix, s.plain.answer(probe).scopePrefix);
    assert.equal(await s.engine.prepareScopes(s.name, 4, NOW), true);
    const again = checkExhaustively(s);
    t.diagnostic(`after draining fra: average scope /${again.averageScope.toFixed(2)}`);
  });

  void it('keeps the geo network scope where the answer depends on the client network', async () => {
    // Every region inside the distance band: weighted sharing by client network, nothing merges.
    const s = setup({ distanceBandKm: 40000 });
    assert.equal(await s.engine.prepareScopes(s.name, 4, NOW), true);
    for (const n of first.slice(0, 200)) {
      const query = {
        name: s.name,
        family: 4 as const,
        source: Uint8Array.of(192, 0, 2, 53),
        ecs: { address: toBytes(n.network), sourcePrefix: 32 },
        now: NOW,
      };
      assert.equal(s.engine.answer(query).scopePrefix, s.plain.answer(query).scopePrefix, toText(n.network));
    }
  });

  void it('gives up on a table over its node bound and keeps the geo network scope', async () => {
    const regions = SITES.map(([id, lat, lon], i) => region(id, lat, lon, i));
    const { name, steering } = nameOf({});
    const state: Snapshot = {
      version: 1,
      syncedAt: NOW,
      regions: new Map(regions.map((r) => [r.id, r])),
      backends: new Map(),
      health: new Map(),
    };
    const options = { snapshot: () => state, locator: geo, steering, startedAt: NOW - 3_600_000 };
    const tiny = new SteeringEngine({ ...options, scopeTableNodes: 4 });
    const plain = new SteeringEngine({ ...options, scopeTables: 0 });
    assert.equal(await tiny.prepareScopes(name, 4, NOW), false);
    assert.equal(await plain.prepareScopes(name, 4, NOW), false);
    const query = {
      name,
      family: 4 as const,
      source: Uint8Array.of(192, 0, 2, 53),
      ecs: { address: toBytes(first[0]!.network), sourcePrefix: 32 },
      now: NOW,
    };
    assert.equal(tiny.answer(query).scopePrefix, plain.answer(query).scopePrefix);
  });
});
