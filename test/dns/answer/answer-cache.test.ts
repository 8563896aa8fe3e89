// The responder's answer cache: a caching responder must give byte-for-byte the replies a
// non-caching one gives (IDs, QNAME case, ECS echo and scope, truncation), for repeated queries and
// across state changes (drain, health expiry, region removal) and geo data reloads.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DnsConfig } from '../../../src/config/dns-schema.js';
import type { Snapshot } from '../../../src/core/types.js';
import { openGeoLocator, type ReloadingGeoLocator } from '../../../src/dns/geo/locator.js';
import type { GeoLocator, GeoResult } from '../../../src/dns/geo/types.js';
import { silentLogger } from '../../../src/infra/logger.js';
import { AnswerCache } from '../../../src/dns/answer/answer-cache.js';
import { Responder } from '../../../src/dns/answer/responder.js';
import { ZoneSet } from '../../../src/dns/answer/zones.js';
import { SteeringEngine } from '../../../src/dns/steering/engine.js';
import { addressFromText } from '../../../src/dns/wire/address.js';
import { MemoryStateStore } from '../../../src/storage/memory/state-store.js';
import { GEO_DB, REGIONS, healthReport, testDnsConfig } from '../fixture.js';

const TYPE = { A: 1, NS: 2, SOA: 6, MX: 15, TXT: 16, AAAA: 28 } as const;

/** A query in the plain wire shape, optionally with EDNS (payload size) and an ECS option. */
function query(
  id: number,
  name: string,
  qtype: number,
  opts: { edns?: number; ecs?: [family: 1 | 2, prefix: number, address: number[]]; rd?: boolean } = {},
): Buffer {
  const labels = name.split('.').filter((l) => l !== '');
  const qname = Buffer.concat([
    ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])),
    Buffer.from([0]),
  ]);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(opts.rd === false ? 0 : 0x0100, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(opts.edns === undefined ? 0 : 1, 10);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(qtype, 0);
  tail.writeUInt16BE(1, 2);
  const parts = [header, qname, tail];
  if (opts.edns !== undefined) {
    let rdata = Buffer.alloc(0);
    if (opts.ecs !== undefined) {
      const [family, prefix, address] = opts.ecs;
      const addr = Buffer.from(address.slice(0, Math.ceil(prefix / 8)));
      rdata = Buffer.alloc(8 + addr.length);
      rdata.writeUInt16BE(8, 0);
      rdata.writeUInt16BE(4 + addr.length, 2);
      rdata.writeUInt16BE(family, 4);
      rdata[6] = prefix;
      rdata[7] = 0;
      addr.copy(rdata, 8);
    }
    const opt = Buffer.alloc(11);
    opt[0] = 0;
    opt.writeUInt16BE(41, 1);
    opt.writeUInt16BE(opts.edns, 3);
    opt.writeUInt16BE(rdata.length, 9);
    parts.push(opt, rdata);
  }
  return Buffer.concat(parts);
}

/** A client address as the socket hands it over: bytes. */
function ip(text: string): Uint8Array {
  const bytes = addressFromText(text);
  assert.ok(bytes !== undefined, text);
  return bytes;
}

/** Delegates to one of two locators; `swap()` is what a geo data reload looks like to the engine. */
class SwappableLocator implements GeoLocator {
  private current: GeoLocator;
  private swaps = 0;
  constructor(
    private readonly a: GeoLocator,
    private readonly b: GeoLocator,
  ) {
    this.current = a;
  }
  swap(): void {
    this.current = this.current === this.a ? this.b : this.a;
    this.swaps++;
  }
  reloads(): number {
    return this.swaps;
  }
  lookup(ip: string): GeoResult | undefined {
    return this.current.lookup(ip);
  }
  lookupBytes(address: Uint8Array): GeoResult | undefined {
    return this.current.lookupBytes(address);
  }
  describe(): ReturnType<GeoLocator['describe']> {
    return this.current.describe();
  }
}

/** Places every address in Singapore (a different geo data set). */
const singapore = (v6: boolean): GeoResult => ({
  country: 'SG',
  continent: 'AS',
  lat: 1.35,
  lon: 103.82,
  network: v6 ? '::/0' : '0.0.0.0/0',
  prefixLength: 0,
});
const EVERYONE_IN_SINGAPORE: GeoLocator = {
  lookup: (ip) => singapore(ip.includes(':')),
  lookupBytes: (address) => singapore(address.length === 16),
  describe: () => [],
};

void describe('DNS answer cache', () => {
  let store: MemoryStateStore;
  let geo: ReloadingGeoLocator;
  let locator: SwappableLocator;
  let config: DnsConfig;
  let now = Date.now();
  const make = (answerCacheSize: number): Responder => {
    const engine = new SteeringEngine({
      snapshot: (): Snapshot => store.current(),
      locator,
      steering: config.steering,
      startedAt: now - 60_000,
      decisionCacheSize: config.decisionCacheSize,
    });
    return new Responder({
      config,
      zones: new ZoneSet(config.zones),
      engine,
      logger: silentLogger,
      now: () => now,
      answerCacheSize,
    });
  };
  let cached: Responder;
  let fresh: Responder;

  before(async () => {
    store = new MemoryStateStore({});
    await store.start();
    for (const r of REGIONS) await store.createRegion(r);
    geo = await openGeoLocator([GEO_DB]);
    locator = new SwappableLocator(geo, EVERYONE_IN_SINGAPORE);
    config = testDnsConfig();
    cached = make(10_000);
    fresh = make(0);
  });
  after(async () => {
    geo?.close();
    await store?.close();
  });

  /** Every query from several clients, each twice with different IDs and QNAME case. */
  const workload: [string, Buffer][] = [];
  let id = 1;
  for (const client of ['192.0.2.1', '198.51.100.7', '203.0.113.9', '2001:db8:20::5', '10.1.2.3']) {
    for (const name of [
      'www.example.test',
      'WwW.ExAmPlE.TeSt',
      'example.test',
      'nope.example.test',
      'mail.example.test',
    ]) {
      for (const qtype of [TYPE.A, TYPE.AAAA, TYPE.SOA, TYPE.MX, TYPE.TXT]) {
        workload.push([client, query(id++, name, qtype)]);
        workload.push([client, query(id++, name, qtype, { edns: 1232 })]);
        workload.push([client, query(id++, name, qtype, { edns: 512, rd: false })]);
      }
      for (const ecs of [
        [1, 24, [192, 0, 2, 0]],
        [1, 24, [198, 51, 100, 0]],
        [1, 24, [203, 0, 113, 0]],
        [1, 0, []],
        [2, 48, [0x20, 0x01, 0x0d, 0xb8, 0x00, 0x20]],
      ] as [1 | 2, number, number[]][]) {
        workload.push([client, query(id++, name, TYPE.A, { edns: 1232, ecs })]);
        workload.push([client, query(id++, name, TYPE.AAAA, { edns: 1232, ecs })]);
      }
    }
  }

  /** Runs the workload twice through both responders; every reply must match byte for byte. */
  const checkSame = (label: string): void => {
    for (let round = 0; round < 2; round++) {
      for (const [client, msg] of workload) {
        for (const transport of ['udp', 'tcp'] as const) {
          const a = cached.handle(msg, ip(client), transport);
          const b = fresh.handle(msg, ip(client), transport);
          assert.ok(a !== undefined && b !== undefined, `${label}: a reply`);
          assert.deepEqual(
            a,
            b,
            `${label}: round ${round}, ${transport} from ${client}, query ${msg.toString('hex')}`,
          );
        }
      }
    }
  };

  void it('serves repeated queries from the cache with the same bytes a fresh answer has', () => {
    checkSame('steady state');
    // Every key has now been missed at least twice, so its reply is cached and a third pass hits —
    // all but the few whose admission-filter slot another key took in between (16-bit slots).
    const before = cached.answerCacheStats().hits;
    for (const [client, msg] of workload) {
      for (const transport of ['udp', 'tcp'] as const) cached.handle(msg, ip(client), transport);
    }
    const stats = cached.answerCacheStats();
    assert.ok(stats.hits - before >= workload.length * 2 * 0.98, `hits ${stats.hits - before}`);
    assert.ok(stats.entries > 0 && stats.entries <= 10_000);
  });

  void it('caches a reply only once its query was missed before (admission)', () => {
    const q = (id: number): Buffer => query(id, 'only-once.example.test', TYPE.A);
    const entries = cached.answerCacheStats().entries;
    cached.handle(q(1), ip('192.0.2.200'), 'udp');
    assert.equal(cached.answerCacheStats().entries, entries, 'a name asked once is not cached');
    cached.handle(q(2), ip('192.0.2.200'), 'udp');
    assert.equal(cached.answerCacheStats().entries, entries + 1, 'asked again: cached');
    const hits = cached.answerCacheStats().hits;
    cached.handle(q(3), ip('192.0.2.200'), 'udp');
    assert.equal(cached.answerCacheStats().hits, hits + 1);
  });

  void it('echoes the ID and the QNAME case of each query on a hit', () => {
    const first = cached.handle(query(0x1111, 'www.example.test', TYPE.A), ip('192.0.2.1'), 'udp');
    const second = cached.handle(query(0x2222, 'WWW.Example.TEST', TYPE.A), ip('192.0.2.1'), 'udp');
    assert.ok(first !== undefined && second !== undefined);
    assert.equal(second.readUInt16BE(0), 0x2222);
    assert.equal(second.toString('latin1', 13, 16), 'WWW');
    assert.equal(second.toString('latin1', 17, 24), 'Example');
    assert.equal(first.toString('latin1', 13, 16), 'www');
  });

  void it('follows drains, health expiry, region removal and geo reloads at once', async () => {
    await store.updateRegion('eu', { state: 'draining' });
    checkSame('eu drained');
    await store.updateRegion('eu', { state: 'active' });
    checkSame('eu active again');
    await store.reportHealth(healthReport('us', true, 5_000));
    checkSame('us reported healthy');
    now += 10_000; // the report expired: us is down
    checkSame('us report expired');
    locator.swap();
    checkSame('geo data reloaded');
    locator.swap();
    await store.removeRegion('ap');
    checkSame('ap removed');
  });

  void it('does not cache when the size is 0', () => {
    fresh.handle(query(7, 'www.example.test', TYPE.A), ip('192.0.2.1'), 'udp');
    fresh.handle(query(8, 'www.example.test', TYPE.A), ip('192.0.2.1'), 'udp');
    assert.deepEqual(fresh.answerCacheStats(), { hits: 0, entries: 0 });
  });
});

void describe('AnswerCache bounds', () => {
  void it('never holds more than its entries or its bytes', () => {
    const maxBytes = 64 * 1024;
    const cache = new AnswerCache(1000, maxBytes);
    const client = Uint8Array.of(192, 0, 2, 1);
    for (let i = 0; i < 5000; i++) {
      const msg = query(i, `n${i}.example.test`, TYPE.A);
      const hash = cache.key(msg, msg.length - 16, false, client, 'udp');
      const reply = Buffer.alloc(100 + (i % 400));
      cache.set(hash, {
        reply,
        rcode: 0,
        generation: 1,
        truncated: false,
        region: undefined,
        country: undefined,
      });
      assert.ok(cache.heldBytes() <= maxBytes, `${cache.heldBytes()} bytes after ${i + 1} replies`);
      assert.ok(cache.stats().entries <= 1000);
    }
    // The last reply stored is still served.
    const last = query(4999, 'n4999.example.test', TYPE.A);
    const hash = cache.key(last, last.length - 16, false, client, 'udp');
    assert.ok(cache.get(hash, () => 1) !== undefined);
  });
});
