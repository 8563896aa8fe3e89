// Balanced-name policies (steering/policy.ts) and per-name overrides (steering/overrides.ts), on the
// test geo database: failover takes the listed order and skips a down region; fixed ignores health;
// weighted shares clients by the name's weights; a name's own overrides win over the global ones,
// and a client inside a name's override CIDR is never answered from the per-geo-record cache.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { dnsSchema } from '../../../src/config/dns-schema.js';
import type { HealthReport, Region, Snapshot } from '../../../src/core/types.js';
import { openGeoLocator, type ReloadingGeoLocator } from '../../../src/dns/geo/locator.js';
import { SteeringEngine } from '../../../src/dns/steering/engine.js';
import { addressFromText } from '../../../src/dns/wire/address.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const TEST_DB = join(root, 'geo-data/test-city.mmdb');
const NOW = 1_800_000_000_000;
const FRANKFURT = '192.0.2.10'; // 192.0.2.0/25 in the test database
const ASHBURN = '198.51.100.7';

function region(id: string, lat: number, lon: number, ipv4: string, weight = 100): Region {
  return {
    id,
    name: id,
    lat,
    lon,
    ipv4: [ipv4],
    ipv6: [],
    weight,
    state: 'active',
    labels: {},
    requireHealth: false,
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
  };
}

const REGIONS = [region('fra', 50.11, 8.68, '10.1.0.1'), region('iad', 39.04, -77.49, '10.3.0.1')];

function down(regionId: string): HealthReport {
  return {
    regionId,
    reporterId: `${regionId}-proxy`,
    healthyBackends: 0,
    totalBackends: 2,
    inFlight: 0,
    requestRate: 0,
    p95LatencyMs: 0,
    reportedAt: NOW - 1000,
    expiresAt: NOW + 10_000,
  };
}

function snapshotOf(reports: HealthReport[] = []): Snapshot {
  return {
    version: 1,
    syncedAt: NOW,
    regions: new Map(REGIONS.map((r) => [r.id, r])),
    backends: new Map(),
    health: new Map(reports.map((r) => [r.regionId, new Map([[r.reporterId, r]])])),
  };
}

let geo: ReloadingGeoLocator;
before(async () => {
  geo = await openGeoLocator([TEST_DB]);
});
after(() => geo.close());

function steer(
  balanced: Record<string, unknown>,
  reports: HealthReport[] = [],
  steering: Record<string, unknown> = {},
) {
  const dns = dnsSchema.parse({
    steering,
    zones: [
      {
        name: 'example.test',
        soa: { mname: 'ns1', rname: 'h' },
        ns: ['ns1'],
        balanced: [{ name: 'www', ...balanced }],
      },
    ],
  });
  const name = dns.zones[0]!.balanced[0]!;
  const engine = new SteeringEngine({
    snapshot: () => snapshotOf(reports),
    locator: geo,
    steering: dns.steering,
    startedAt: NOW - 3_600_000,
    nameCidrs: Object.keys(name.overrides?.cidr ?? {}),
  });
  const query = (client: string) => ({
    name,
    family: 4 as const,
    source: addressFromText(client)!,
    now: NOW,
  });
  return {
    decide: (client: string) => engine.decide(query(client)),
    answer: (client: string) => engine.answer(query(client)),
  };
}

describe('balanced-name policies', () => {
  it('failover: the listed order whatever the location, the next one when the first is down', () => {
    const s = steer({ policy: 'failover', regions: ['iad', 'fra'] });
    const d = s.decide(FRANKFURT);
    assert.deepEqual(d.regions, ['iad']);
    assert.equal(d.rule, 'policy:failover');
    assert.equal(d.scopePrefix, 0, 'the answer does not depend on the client');
    assert.deepEqual(
      steer({ policy: 'failover', regions: ['iad', 'fra'] }, [down('iad')]).decide(FRANKFURT).regions,
      ['fra'],
    );
  });

  it('fixed: the listed region even when its health says down', () => {
    const d = steer({ policy: 'fixed', regions: ['iad'] }, [down('iad')]).decide(FRANKFURT);
    assert.deepEqual(d.addresses, ['10.3.0.1']);
    assert.equal(d.rule, 'policy:fixed');
    assert.equal(d.allDown, false);
  });

  it('weighted: shares clients by the name weights, one network keeps its region', () => {
    const s = steer({ policy: 'weighted', weights: { fra: 3, iad: 1 } });
    const counts = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const client = `10.${i >> 8}.${i & 255}.1`;
      const first = s.decide(client).regions[0]!;
      counts.set(first, (counts.get(first) ?? 0) + 1);
      assert.equal(s.decide(client).regions[0], first, 'stable per network');
    }
    const fra = counts.get('fra') ?? 0;
    assert.ok(fra > 240 && fra < 360, `fra got ${fra} of 400 (expected about 300)`);
    assert.deepEqual(steer({ policy: 'weighted', weights: { fra: 0, iad: 1 } }).decide(FRANKFURT).regions, [
      'iad',
    ]);
  });

  it('nearest stays the default', () => {
    assert.deepEqual(steer({}).decide(FRANKFURT).regions, ['fra']);
    assert.deepEqual(steer({}).decide(ASHBURN).regions, ['iad']);
  });
});

describe('region country and continent (region add --country/--continent)', () => {
  it('a client placed only by country goes to a region registered in that country', () => {
    const dns = dnsSchema.parse({
      zones: [
        { name: 'example.test', soa: { mname: 'ns1', rname: 'h' }, ns: ['ns1'], balanced: [{ name: 'www' }] },
      ],
    });
    const name = dns.zones[0]!.balanced[0]!;
    const regions = [...REGIONS, { ...region('tyo', 35.68, 139.69, '10.9.0.1', 1), country: 'JP' }];
    const snap: Snapshot = { ...snapshotOf(), regions: new Map(regions.map((r) => [r.id, r])) };
    const engine = new SteeringEngine({
      snapshot: () => snap,
      locator: geo,
      steering: dns.steering,
      startedAt: NOW,
    });
    // 100.65.0.1: the test database gives Japan, without coordinates.
    const d = engine.decide({ name, family: 4, source: addressFromText('100.65.0.1')!, now: NOW });
    assert.deepEqual(d.regions, ['tyo']);
    assert.equal(d.rule, 'same-country');
  });
});

describe('per-name overrides', () => {
  it('win over the global overrides and the policy; country and CIDR', () => {
    const s = steer({ overrides: { country: { DE: ['iad'] }, cidr: { '198.51.100.0/28': ['fra'] } } }, [], {
      overrides: { country: { DE: ['fra'] } },
    });
    const de = s.decide(FRANKFURT);
    assert.deepEqual(de.regions, ['iad']);
    assert.equal(de.rule, 'override:name country DE');
    const inCidr = s.decide(ASHBURN);
    assert.deepEqual(inCidr.regions, ['fra']);
    assert.equal(inCidr.rule, 'override:name cidr 198.51.100.0/28');
  });

  it('a client inside a name override CIDR is not answered from its geo record cache', () => {
    const s = steer({ overrides: { cidr: { '198.51.100.0/28': ['fra'] } } });
    // Same geo record (198.51.100.0/24): one client inside the rule, one outside.
    assert.deepEqual(s.answer('198.51.100.200').steered.addresses, ['10.3.0.1']);
    assert.deepEqual(s.answer(ASHBURN).steered.addresses, ['10.1.0.1']);
    assert.deepEqual(s.answer('198.51.100.201').steered.addresses, ['10.3.0.1']);
  });
});
