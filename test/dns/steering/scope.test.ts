// ECS scope (RFC 7871 SCOPE PREFIX-LENGTH) of steering decisions.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { dnsSchema } from '../../../src/config/dns-schema.js';
import { ipToBytes, maskBytes } from '../../../src/core/ip.js';
import type { HealthReport, Region, Snapshot } from '../../../src/core/types.js';
import { openGeoLocator, type ReloadingGeoLocator } from '../../../src/dns/geo/locator.js';
import { SteeringEngine } from '../../../src/dns/steering/engine.js';
import { commonPrefixBits } from '../../../src/dns/steering/scope.js';
import type { Decision } from '../../../src/dns/steering/types.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const TEST_DB = join(root, 'geo-data/test-city.mmdb');
const NOW = 1_800_000_000_000;

function region(id: string, lat: number, lon: number, extra: Partial<Region> = {}): Region {
  return {
    id,
    name: id,
    lat,
    lon,
    ipv4: ['10.0.0.1'],
    ipv6: ['fd00::1'],
    weight: 100,
    state: 'active',
    labels: {},
    requireHealth: false,
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
    ...extra,
  };
}

const REGIONS = [
  region('fra', 50.11, 8.68),
  region('par', 48.86, 2.35),
  region('iad', 39.04, -77.49),
  region('sin', 1.35, 103.82),
];

function snapshotOf(regions: Region[], reports: HealthReport[] = []): Snapshot {
  const health = new Map<string, Map<string, HealthReport>>();
  for (const r of reports) health.set(r.regionId, new Map([[r.reporterId, r]]));
  return {
    version: 1,
    syncedAt: NOW,
    regions: new Map(regions.map((r) => [r.id, r])),
    backends: new Map(),
    health,
  };
}

let geo: ReloadingGeoLocator;
before(async () => {
  geo = await openGeoLocator([TEST_DB]);
});
after(() => geo.close());

function setup(
  steering: Record<string, unknown> = {},
  regions = REGIONS,
  reports: HealthReport[] = [],
  balanced = {},
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
  const name = dns.zones[0]?.balanced[0];
  assert.ok(name !== undefined);
  const engine = new SteeringEngine({
    snapshot: () => snapshotOf(regions, reports),
    locator: geo,
    steering: dns.steering,
    startedAt: 0,
  });
  return (address: string, sourcePrefix: number, family: 4 | 6 = 4, qfamily: 4 | 6 = 4): Decision => {
    const masked = maskBytes(ipToBytes(address) ?? new Uint8Array(family === 4 ? 4 : 16), sourcePrefix);
    return engine.decide({
      name,
      family: qfamily,
      source: Uint8Array.of(127, 0, 0, 1),
      ecs: { address: masked, sourcePrefix },
      now: NOW,
    });
  };
}

/** Every address of the decision's scope network (sampled) gets the same answer. */
function assertScopeHolds(ask: ReturnType<typeof setup>, address: string): void {
  const d = ask(address, 32);
  const bytes = ipToBytes(address);
  assert.ok(bytes !== undefined);
  const base = maskBytes(bytes, d.scopePrefix);
  const hostBits = 32 - d.scopePrefix;
  for (let i = 0; i < 64; i++) {
    const offset = hostBits >= 31 ? (i * 2654435761) >>> 1 : Math.floor((i / 64) * 2 ** hostBits);
    const n =
      (((base[0] ?? 0) << 24) | ((base[1] ?? 0) << 16) | ((base[2] ?? 0) << 8) | (base[3] ?? 0)) >>> 0;
    const v = (n + (offset % 2 ** hostBits)) >>> 0;
    const ip = `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
    assert.deepEqual(ask(ip, 32).regions, d.regions, `${ip} vs ${address} (scope /${d.scopePrefix})`);
  }
}

void describe('steering: ECS scope', () => {
  void it('is the geo network prefix: /25 vs /24 networks, and IPv6 /48', () => {
    const ask = setup();
    assert.equal(ask('192.0.2.0', 24).scopePrefix, 25);
    assert.equal(ask('192.0.2.128', 25).regions[0], 'par');
    assert.equal(ask('192.0.2.128', 25).scopePrefix, 25);
    assert.equal(ask('198.51.100.0', 24).scopePrefix, 24);
    assert.equal(ask('203.0.113.0', 24).scopePrefix, 24);
    const v6 = ask('2001:db8:1::', 48, 6, 6);
    assert.deepEqual(v6.regions, ['fra']);
    assert.equal(v6.scopePrefix, 48);
    assert.equal(
      ask('2001:db8:3::', 56, 6, 4).scopePrefix,
      48,
      'AAAA or A does not matter: the ECS family counts',
    );
  });

  void it('is at least the prefix of a matching override CIDR narrower than the geo network', () => {
    const ask = setup({ overrides: { cidr: { '198.51.100.0/26': ['sin'] } } });
    const inside = ask('198.51.100.0', 24);
    assert.deepEqual(inside.regions, ['sin']);
    assert.equal(inside.scopePrefix, 26);
    // Outside the /26 but inside the same geo /24: the scope must exclude the /26.
    const outside = ask('198.51.100.128', 25);
    assert.deepEqual(outside.regions, ['iad']);
    assert.equal(outside.scopePrefix, 25);
    const near = ask('198.51.100.64', 26);
    assert.deepEqual(near.regions, ['iad']);
    assert.equal(near.scopePrefix, 26);
    for (const ip of ['198.51.100.1', '198.51.100.70', '198.51.100.200']) assertScopeHolds(ask, ip);
  });

  void it('is the geo prefix when a matching override CIDR is wider than the geo network', () => {
    const ask = setup({ overrides: { cidr: { '192.0.2.0/24': ['sin'] } } });
    const d = ask('192.0.2.0', 24);
    assert.deepEqual(d.regions, ['sin']);
    assert.equal(d.scopePrefix, 25);
  });

  void it('a host-route override gives /32 and never more than the family maximum', () => {
    const ask = setup({ overrides: { cidr: { '203.0.113.7/32': ['fra'], '2001:db8:3::1/128': ['fra'] } } });
    const host = ask('203.0.113.7', 32);
    assert.deepEqual(host.regions, ['fra']);
    assert.equal(host.scopePrefix, 32);
    assert.equal(ask('2001:db8:3::1', 128, 6, 6).scopePrefix, 128);
    assertScopeHolds(ask, '203.0.113.6');
  });

  void it('is 0 when the answer does not depend on location', () => {
    const ask = setup();
    // An unlocated client is answered in the default order, but located clients elsewhere are not:
    // the scope is the empty geo network the address falls in, never /0.
    const unlocated = ask('8.8.8.0', 24);
    assert.equal(unlocated.location.found, false);
    assert.ok(unlocated.scopePrefix > 0 && unlocated.scopePrefix <= 32, String(unlocated.scopePrefix));
    assertScopeHolds(ask, '8.8.8.0');
    // NODATA: no region has IPv6 addresses.
    const noV6 = setup(
      {},
      REGIONS.map((r) => ({ ...r, ipv6: [] })),
    );
    assert.equal(noV6('192.0.2.0', 24, 4, 6).outcome, 'nodata');
    assert.equal(noV6('192.0.2.0', 24, 4, 6).scopePrefix, 0);
    // Only one candidate region for the name.
    const single = setup({}, REGIONS, [], { regions: ['iad'] });
    assert.equal(single('192.0.2.0', 24).scopePrefix, 0);
    // All down (fail-open and fail-closed).
    const reports = REGIONS.map((r) => ({
      regionId: r.id,
      reporterId: 'p',
      healthyBackends: 0,
      totalBackends: 1,
      inFlight: 0,
      requestRate: 0,
      p95LatencyMs: 0,
      reportedAt: NOW - 1,
      expiresAt: NOW + 10_000,
    }));
    assert.equal(setup({}, REGIONS, reports)('192.0.2.0', 24).scopePrefix, 0);
    assert.equal(setup({}, REGIONS, reports, { allDown: 'fail-closed' })('192.0.2.0', 24).scopePrefix, 0);
  });

  void it('stays narrow enough for an unlocated client next to an override CIDR', () => {
    const ask = setup({ overrides: { cidr: { '8.8.4.0/24': ['sin'] } } });
    const d = ask('8.8.8.0', 24);
    assert.equal(d.location.found, false);
    // 8.8.8.0 and 8.8.4.0 share 20 bits: /21 (8.8.8.0-8.8.15.255) is the widest scope excluding the override.
    assert.equal(d.scopePrefix, 21);
    assert.equal(ask('8.8.4.0', 24).scopePrefix, 24);
    assert.deepEqual(ask('8.8.4.0', 24).regions, ['sin']);
  });

  void it('commonPrefixBits counts shared leading bits', () => {
    const a = Uint8Array.from([192, 0, 2, 0]);
    assert.equal(commonPrefixBits(a, Uint8Array.from([192, 0, 2, 128]), 32), 24);
    assert.equal(commonPrefixBits(a, Uint8Array.from([192, 0, 2, 0]), 32), 32);
    assert.equal(commonPrefixBits(a, Uint8Array.from([192, 0, 2, 0]), 26), 26);
    assert.equal(commonPrefixBits(a, Uint8Array.from([64, 0, 2, 0]), 32), 0);
  });
});
