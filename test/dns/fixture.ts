// Shared set-up for the DNS tests: a real startDns on 127.0.0.1:0 and [::1]:0 with a
// MemoryStateStore (temp file), the test geo DB and the zone example.test.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Registry } from 'prom-client';
import { dnsSchema, type DnsConfig } from '../../src/config/dns-schema.js';
import type { DeepReadonly } from '../../src/config/load.js';
import type { HealthReport, RegionInput } from '../../src/core/types.js';
import { startDns, type DnsService } from '../../src/dns/index.js';
import { silentLogger } from '../../src/infra/logger.js';
import { MemoryZoneStore } from '../../src/storage/memory/zone-store.js';
import { MemoryStateStore } from '../../src/storage/memory/state-store.js';
import { answerData, dig, type DigTarget } from '../helpers/dig.js';

export const REPO = resolve(import.meta.dirname, '../..');
export const GEO_DB = join(REPO, 'geo-data/test-city.mmdb');

/** A TXT RRset well over 512 bytes on the wire. */
export const BIG_TXT = Array.from({ length: 8 }, (_, i) => `chunk-${i}-${'x'.repeat(90)}`);

export const REGIONS: RegionInput[] = [
  {
    id: 'eu',
    name: 'Frankfurt',
    lat: 50.11,
    lon: 8.68,
    country: 'DE',
    ipv4: ['192.0.2.10'],
    ipv6: ['2001:db8:10::1'],
  },
  {
    id: 'us',
    name: 'Ashburn',
    lat: 39.04,
    lon: -77.49,
    country: 'US',
    ipv4: ['198.51.100.10'],
    ipv6: ['2001:db8:20::1'],
  },
  { id: 'ap', name: 'Singapore', lat: 1.35, lon: 103.82, country: 'SG', ipv4: ['203.0.113.10'] },
];

export function testDnsConfig(overrides: Record<string, unknown> = {}): DnsConfig {
  return dnsSchema.parse({
    listen: ['127.0.0.1:0', '[::1]:0'],
    workers: 1,
    geo: { databases: [GEO_DB] },
    steering: { healthGraceSeconds: 0 },
    rrl: { enabled: false },
    ecsWidestScope: true,
    zones: [
      {
        name: 'example.test',
        ttl: 3600,
        soa: {
          mname: 'ns1',
          rname: 'hostmaster',
          serial: 2026112101,
          serialScheme: 'counter',
          ttl: 3600,
          minimum: 300,
        },
        ns: ['ns1', 'ns2'],
        records: [
          { name: 'ns1', type: 'A', values: ['192.0.2.53'] },
          { name: 'ns1', type: 'AAAA', values: ['2001:db8::53'] },
          { name: 'ns2', type: 'A', values: ['198.51.100.53'] },
          { name: '@', type: 'MX', values: ['10 mail'] },
          { name: '@', type: 'CAA', values: ['0 issue "letsencrypt.org"'] },
          { name: 'mail', type: 'A', values: ['192.0.2.25'] },
          { name: 'big', type: 'TXT', ttl: 300, values: BIG_TXT },
          // An apex RRset over 512 bytes, so the conformance tool's tc-bit check applies.
          { name: '@', type: 'TXT', values: ['v=spf1 -all', ...BIG_TXT] },
          { name: 'alias', type: 'CNAME', values: ['www'] },
          { name: 'ext', type: 'CNAME', values: ['target.example.net.'] },
          { name: '_sip._tcp', type: 'SRV', values: ['10 60 5060 mail'] },
          { name: 'host.ent.deep', type: 'A', values: ['192.0.2.7'] },
          { name: 'sub', type: 'NS', values: ['ns1.sub'] },
          { name: 'ns1.sub', type: 'A', values: ['192.0.2.99'] },
          { name: '*.wild', type: 'A', values: ['192.0.2.77'] },
        ],
        balanced: [
          { name: 'www', ttl: 30 },
          { name: 'closed', ttl: 30, regions: ['eu'], allDown: 'fail-closed' },
          { name: 'open', ttl: 30, regions: ['eu'], allDown: 'fail-open' },
        ],
      },
    ],
    ...overrides,
  });
}

export interface Fixture {
  readonly dns: DnsService;
  readonly store: MemoryStateStore;
  /** The zone store the tier follows (seeded from the config's zones). */
  readonly zones: MemoryZoneStore;
  readonly registry: Registry;
  readonly v4: DigTarget;
  readonly v6: DigTarget;
  close(): Promise<void>;
}

export async function startFixture(
  options: {
    config?: DeepReadonly<DnsConfig>;
    regions?: RegionInput[];
    /** The key ring's source, for signed zones (test/dns/dnssec/signed-zone.ts). */
    secrets?: { keyFile: string };
  } = {},
): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-dns-test-'));
  const store = new MemoryStateStore({ file: join(dir, 'state.json'), healthFlushMs: 50 });
  await store.start();
  for (const r of options.regions ?? REGIONS) await store.createRegion(r);
  const registry = new Registry();
  const config = options.config ?? testDnsConfig();
  // Served the way `meridian serve` serves them: seeded into a zone store the tier follows.
  const zones = new MemoryZoneStore();
  await zones.seed(config.zones);
  let dns: DnsService;
  try {
    dns = await startDns({
      config,
      resolvePath: (p) => resolve(REPO, p),
      store,
      zones,
      logger: silentLogger,
      registry,
      startedAt: Date.now(),
      ...(options.secrets === undefined ? {} : { secrets: options.secrets }),
    });
  } catch (err) {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const udp = dns.addresses().filter((a) => a.transport === 'udp');
  const v4 = udp.find((a) => a.host === '127.0.0.1');
  const v6 = udp.find((a) => a.host === '::1');
  if (v4 === undefined || v6 === undefined) throw new Error('expected UDP listeners on 127.0.0.1 and ::1');
  return {
    dns,
    store,
    zones,
    registry,
    v4: { host: v4.host, port: v4.port },
    v6: { host: v6.host, port: v6.port },
    close: async () => {
      await dns.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function healthReport(regionId: string, healthy: boolean, ttlMs: number): HealthReport {
  const now = Date.now();
  return {
    regionId,
    reporterId: 'test-proxy',
    healthyBackends: healthy ? 1 : 0,
    totalBackends: 1,
    inFlight: 0,
    requestRate: 0,
    p95LatencyMs: 0,
    reportedAt: now,
    expiresAt: now + ttlMs,
  };
}

/** A balanced answer over UDP (with its ECS scope) and a SOA over TCP, on both of the fixture's addresses. */
export async function assertAnswersUdpAndTcp(f: Fixture): Promise<void> {
  for (const target of [f.v4, f.v6]) {
    const r = await dig(target, ['+norec', '+subnet=198.51.100.0/24', 'www.example.test', 'A']);
    assert.equal(r.status, 'NOERROR');
    assert.deepEqual(answerData(r, 'A'), ['198.51.100.10']);
    assert.equal(r.ecs?.scope, 24);
    const t = await dig(target, ['+norec', '+tcp', 'example.test', 'SOA']);
    assert.equal(t.status, 'NOERROR');
  }
}
