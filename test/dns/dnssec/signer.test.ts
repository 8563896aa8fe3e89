// The signing step through the real responder (queries as bytes in, replies as bytes out, keys
// sealed with a real key ring, signatures checked with node:crypto over signed data this test builds
// itself): positive, steered, CNAME and wildcard answers, compact denial for nonexistent names,
// NODATA and delegations, the DNSKEY RRset signed by the KSK, unsigned queries unchanged, key phases
// with an injected clock (a retired ZSK no longer signs, cached replies do not outlive it), and the
// refusals of keys that cannot be opened.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DnsConfig } from '../../../src/config/dns-schema.js';
import type { Snapshot } from '../../../src/core/types.js';
import { isMeridianError } from '../../../src/core/errors.js';
import { Responder } from '../../../src/dns/answer/responder.js';
import { ZoneSet } from '../../../src/dns/answer/zones.js';
import { openGeoLocator, type ReloadingGeoLocator } from '../../../src/dns/geo/locator.js';
import { SteeringEngine } from '../../../src/dns/steering/engine.js';
import { addressFromText } from '../../../src/dns/wire/address.js';
import { verifyData } from '../../../src/infra/dnssec/keys.js';
import { silentLogger } from '../../../src/infra/logger.js';
import { KeyRing } from '../../../src/infra/secrets/key-ring.js';
import { MemoryStateStore } from '../../../src/storage/memory/state-store.js';
import { GEO_DB, REGIONS, healthReport, testDnsConfig } from '../fixture.js';
import { testKey, testSigning, type TestKey, type TestSigning } from './signed-zone.js';
import {
  T,
  parseMessage,
  parseNsec,
  parseRrsig,
  query,
  signedDataOf,
  type Message,
  type Record,
} from './wire.js';

const ZONE = 'example.test';
const EU4 = [192, 0, 2, 10];
const US4 = [198, 51, 100, 10];

function signedConfig(keys: readonly TestKey[]): DnsConfig {
  const base = testDnsConfig().zones[0]!;
  return testDnsConfig({
    zones: [
      {
        ...base,
        balanced: [
          ...base.balanced,
          {
            name: 'app',
            ttl: 20,
            overrides: { cidr: { '198.18.1.0/24': ['eu'], '198.18.2.0/24': ['us'] } },
          },
        ],
        dnssec: { keys: keys.map((k) => k.stored) },
      },
    ],
  });
}

/** Checks every RRSIG of a section against the records it covers; returns the key tags that signed. */
function verifySection(records: readonly Record[], keys: readonly TestKey[]): number[] {
  const tags: number[] = [];
  for (const rr of records) {
    if (rr.type !== T.RRSIG) continue;
    const sig = parseRrsig(rr.rdata);
    const covered = records.filter((r) => r.owner === rr.owner && r.type === sig.typeCovered);
    assert.ok(covered.length > 0, `RRSIG ${rr.owner}/${sig.typeCovered} covers records in its section`);
    const key = keys.find((k) => k.tag === sig.keyTag);
    assert.ok(key !== undefined, `key ${sig.keyTag} is one of the zone's`);
    assert.equal(sig.signer, ZONE);
    const data = signedDataOf(sig, rr.owner, covered);
    assert.ok(
      verifyData(key.generated.publicKey, key.generated.algorithm, data, sig.signature),
      `RRSIG ${rr.owner}/${sig.typeCovered} verifies`,
    );
    tags.push(sig.keyTag);
  }
  return tags;
}

const types = (records: readonly Record[]): string[] => records.map((r) => `${r.owner} ${r.type}`);

void describe('DNSSEC signing step (responder, real keys)', () => {
  let dir: string;
  let store: MemoryStateStore;
  let geo: ReloadingGeoLocator;
  let signing: TestSigning;
  let now = Date.now();
  const open = (ring: KeyRing) => (sealed: string, context: string) => ring.open(sealed, context);
  const make = (config: DnsConfig, ring: KeyRing, answerCacheSize = 0): Responder =>
    new Responder({
      config,
      zones: new ZoneSet(config.zones, { openSealed: open(ring) }),
      engine: new SteeringEngine({
        // As runtime.ts does: per-name override CIDRs bound the per-geo-record cache.
        nameCidrs: config.zones.flatMap((z) =>
          z.balanced.flatMap((b) => Object.keys(b.overrides?.cidr ?? {})),
        ),
        snapshot: (): Snapshot => store.current(),
        locator: geo,
        steering: config.steering,
        startedAt: now - 60_000,
        decisionCacheSize: config.decisionCacheSize,
      }),
      logger: silentLogger,
      now: () => now,
      answerCacheSize,
    });
  let responder: Responder;
  let id = 1;
  const ask = (
    name: string,
    qtype: number,
    opts: {
      dnssecOk?: boolean;
      ecs?: [number, number[]];
      via?: Responder;
      udpSize?: number;
      transport?: 'udp' | 'tcp';
    } = { dnssecOk: true },
  ): Message => {
    const client = addressFromText('127.0.0.1')!;
    const reply = (opts.via ?? responder).handle(
      query(id++, name, qtype, opts),
      client,
      opts.transport ?? 'tcp',
    );
    assert.ok(reply !== undefined);
    return parseMessage(reply);
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'meridian-dnssec-'));
    store = new MemoryStateStore({});
    await store.start();
    for (const r of REGIONS) await store.createRegion(r);
    geo = await openGeoLocator([GEO_DB]);
    signing = testSigning(dir, ZONE);
    responder = make(signedConfig([signing.ksk, signing.zsk]), signing.ring);
  });
  after(async () => {
    geo?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  void it('signs a static RRset with the ZSK: RRSIG after it, labels and TTLs as answered', () => {
    const m = ask('mail.example.test', T.A);
    assert.equal(m.rcode, 0);
    assert.deepEqual(types(m.answer), ['mail.example.test 1', 'mail.example.test 46']);
    const sig = parseRrsig(m.answer[1]!.rdata);
    assert.equal(sig.labels, 3);
    assert.equal(sig.originalTtl, m.answer[0]!.ttl);
    assert.equal(m.answer[1]!.ttl, m.answer[0]!.ttl);
    assert.ok(sig.inception <= now / 1000 - 3600 + 1 && sig.expiration === sig.inception + 14 * 86_400);
    assert.deepEqual(verifySection(m.answer, [signing.zsk]), [signing.zsk.tag]);
  });

  void it('signs steered answers for two client subnets, each for the address set answered, cached per set', () => {
    const eu = ask('app.example.test', T.A, { dnssecOk: true, ecs: [24, [198, 18, 1, 0]] });
    const us = ask('app.example.test', T.A, { dnssecOk: true, ecs: [24, [198, 18, 2, 0]] });
    assert.deepEqual(eu.answer[0]!.rdata, Buffer.from(EU4));
    assert.deepEqual(us.answer[0]!.rdata, Buffer.from(US4));
    assert.deepEqual(verifySection(eu.answer, [signing.zsk]), [signing.zsk.tag]);
    assert.deepEqual(verifySection(us.answer, [signing.zsk]), [signing.zsk.tag]);
    // ECDSA signatures are randomized: the same bytes again mean the cached signature was served.
    const euAgain = ask('app.example.test', T.A, { dnssecOk: true, ecs: [24, [198, 18, 1, 7]] });
    assert.deepEqual(euAgain.answer[1]!.rdata, eu.answer[1]!.rdata);
    assert.notDeepEqual(us.answer[1]!.rdata, eu.answer[1]!.rdata);
  });

  void it('signs each RRset of a CNAME chain and wildcard answers at the query name (white lie: no expansion proof)', () => {
    const chain = ask('alias.example.test', T.A);
    assert.deepEqual(types(chain.answer), [
      'alias.example.test 5',
      'alias.example.test 46',
      'www.example.test 1',
      'www.example.test 46',
    ]);
    verifySection(chain.answer, [signing.zsk]);
    const wild = ask('a.b.wild.example.test', T.A);
    assert.deepEqual(types(wild.answer), ['a.b.wild.example.test 1', 'a.b.wild.example.test 46']);
    assert.equal(parseRrsig(wild.answer[1]!.rdata).labels, 5);
    verifySection(wild.answer, [signing.zsk]);
  });

  void it('answers the DNSKEY RRset (every published key) signed by the KSK', () => {
    const m = ask(ZONE, T.DNSKEY);
    assert.deepEqual(types(m.answer), [`${ZONE} 48`, `${ZONE} 48`, `${ZONE} 46`]);
    assert.deepEqual(verifySection(m.answer, [signing.ksk, signing.zsk]), [signing.ksk.tag]);
  });

  void it('denies a nonexistent name compactly: NOERROR, SOA + NSEC {RRSIG NSEC NXNAME} at the name, all signed', () => {
    const m = ask('nope.example.test', T.A);
    assert.equal(m.rcode, 0);
    assert.equal(m.answer.length, 0);
    assert.deepEqual(types(m.authority), [
      `${ZONE} 6`,
      `${ZONE} 46`,
      'nope.example.test 47',
      'nope.example.test 46',
    ]);
    const nsec = parseNsec(m.authority[2]!.rdata);
    assert.deepEqual(nsec, { next: '\u0000.nope.example.test', types: [T.RRSIG, T.NSEC, T.NXNAME] });
    assert.equal(m.authority[2]!.ttl, 300, 'min(SOA TTL, MINIMUM)');
    assert.deepEqual(verifySection(m.authority, [signing.zsk]), [signing.zsk.tag, signing.zsk.tag]);
  });

  void it('proves NODATA with the types the name has, minus the one asked for', () => {
    const cases: [string, number, number[]][] = [
      ['mail.example.test', T.AAAA, [T.A, T.RRSIG, T.NSEC]],
      // An empty non-terminal.
      ['deep.example.test', T.A, [T.RRSIG, T.NSEC]],
      // A balanced name has A and AAAA.
      ['app.example.test', T.TXT, [T.A, T.AAAA, T.RRSIG, T.NSEC]],
      [ZONE, T.AAAA, [T.NS, T.SOA, T.MX, T.TXT, T.RRSIG, T.NSEC, T.DNSKEY, 257]],
      // DS at a delegation: the parent side has only the NS.
      ['sub.example.test', T.DS, [T.NS, T.RRSIG, T.NSEC]],
    ];
    for (const [name, qtype, want] of cases) {
      const m = ask(name, qtype);
      assert.equal(m.rcode, 0, name);
      const nsec = m.authority.find((r) => r.type === T.NSEC);
      assert.ok(nsec !== undefined, name);
      assert.equal(nsec.owner, name);
      assert.deepEqual(parseNsec(nsec.rdata).types, want, name);
      verifySection(m.authority, [signing.zsk]);
    }
  });

  void it('proves an unsigned delegation (NSEC at the cut without DS); the NS and the glue stay unsigned', () => {
    const m = ask('host.sub.example.test', T.A);
    assert.deepEqual(types(m.authority), [
      'sub.example.test 2',
      'sub.example.test 47',
      'sub.example.test 46',
    ]);
    assert.deepEqual(parseNsec(m.authority[1]!.rdata).types, [T.NS, T.RRSIG, T.NSEC]);
    assert.deepEqual(types(m.additional), ['ns1.sub.example.test 1']);
    verifySection(m.authority, [signing.zsk]);
  });

  void it('answers an NSEC query with the proof itself; refuses NXNAME questions (FORMERR)', () => {
    const m = ask('nope.example.test', T.NSEC);
    assert.deepEqual(types(m.answer), ['nope.example.test 47', 'nope.example.test 46']);
    assert.equal(ask('nope.example.test', T.NXNAME).rcode, 1);
  });

  void it('truncates a signed reply over the UDP limit (TC=1) and answers it whole over TCP', () => {
    const udp = ask('big.example.test', T.TXT, { dnssecOk: true, udpSize: 512, transport: 'udp' });
    assert.ok((udp.flags & 0x0200) !== 0, 'TC');
    assert.equal(udp.answer.length, 0);
    const tcp = ask('big.example.test', T.TXT, { dnssecOk: true, udpSize: 512, transport: 'tcp' });
    assert.equal(tcp.flags & 0x0200, 0);
    assert.deepEqual(tcp.answer.map((r) => r.type).slice(-2), [T.TXT, T.RRSIG]);
    verifySection(tcp.answer, [signing.zsk]);
  });

  void it('leaves queries without DO as they were: no RRSIG, NXDOMAIN for a nonexistent name', () => {
    const plain = ask('nope.example.test', T.A, {});
    assert.equal(plain.rcode, 3);
    assert.deepEqual(types(plain.authority), [`${ZONE} 6`]);
    const a = ask('mail.example.test', T.A, {});
    assert.deepEqual(types(a.answer), ['mail.example.test 1']);
  });

  void it('signs with the active ZSK only: after a rollover instant the new key signs and cached replies follow', () => {
    const t0 = Date.UTC(2026, 0, 10);
    const iso = (ms: number): string => new Date(ms).toISOString();
    const zskOld = testKey(signing.ring, ZONE, 'zsk', 13, {
      retireAt: iso(t0),
      removeAt: iso(t0 + 86_400_000),
    });
    const zskNew = testKey(signing.ring, ZONE, 'zsk', 13, {
      publishAt: iso(t0 - 86_400_000),
      activeAt: iso(t0),
    });
    const keys = [signing.ksk, zskOld, zskNew];
    const saved = now;
    try {
      now = t0 - 1000;
      const cached = make(signedConfig(keys), signing.ring, 1000);
      const askTwice = (qname: string, qtype: number): Message => {
        ask(qname, qtype, { dnssecOk: true, via: cached });
        return ask(qname, qtype, { dnssecOk: true, via: cached });
      };
      assert.deepEqual(verifySection(askTwice('mail.example.test', T.A).answer, keys), [zskOld.tag]);
      assert.equal(askTwice(ZONE, T.DNSKEY).answer.filter((r) => r.type === T.DNSKEY).length, 3);
      now = t0;
      assert.deepEqual(verifySection(askTwice('mail.example.test', T.A).answer, keys), [zskNew.tag]);
      // Retired, still published (resolvers may hold its signatures) until removeAt.
      assert.equal(askTwice(ZONE, T.DNSKEY).answer.filter((r) => r.type === T.DNSKEY).length, 3);
      now = t0 + 86_400_000;
      const dnskeys = askTwice(ZONE, T.DNSKEY);
      assert.equal(dnskeys.answer.filter((r) => r.type === T.DNSKEY).length, 2);
      verifySection(dnskeys.answer, keys);
    } finally {
      now = saved;
    }
  });

  void it('proves NODATA for a balanced name whose every region is down (fail-closed)', async () => {
    await store.reportHealth(healthReport('eu', false, 600_000));
    try {
      const m = ask('closed.example.test', T.A);
      assert.equal(m.rcode, 0);
      assert.equal(m.answer.length, 0);
      const nsec = m.authority.find((r) => r.type === T.NSEC);
      assert.ok(nsec !== undefined);
      assert.deepEqual(parseNsec(nsec.rdata).types, [T.AAAA, T.RRSIG, T.NSEC]);
      verifySection(m.authority, [signing.zsk]);
    } finally {
      await store.reportHealth(healthReport('eu', true, 600_000));
    }
  });

  void it('refuses to compile a signed zone whose keys cannot be opened, naming the zone and key tag', () => {
    const config = signedConfig([signing.ksk, signing.zsk]);
    const otherRing = new KeyRing(new Map([['t1', Buffer.alloc(32, 3)]]), 't1');
    const withKey = (patch: Partial<TestKey['stored']>): DnsConfig => {
      const zone = config.zones[0]!;
      return {
        ...config,
        zones: [
          {
            ...zone,
            dnssec: {
              ...zone.dnssec!,
              keys: [{ ...zone.dnssec!.keys[0]!, ...patch }, zone.dnssec!.keys[1]!],
            },
          },
        ],
      };
    };
    const refusals: [string, () => unknown, RegExp][] = [
      ['no key ring', () => new ZoneSet(config.zones), /no key ring/],
      ['another ring', () => new ZoneSet(config.zones, { openSealed: open(otherRing) }), /ksk \d+/],
      [
        'plain value',
        () =>
          new ZoneSet(withKey({ privateKey: 'MIGHAgEAMBMGByqGSM49' }).zones, {
            openSealed: open(signing.ring),
          }),
        /not sealed/,
      ],
      [
        'wrong tag',
        () =>
          new ZoneSet(withKey({ tag: (signing.ksk.tag + 1) % 65536 }).zones, {
            openSealed: open(signing.ring),
          }),
        /tag does not match/,
      ],
      [
        'other public key',
        () =>
          new ZoneSet(
            withKey({ publicKey: signing.zsk.stored.publicKey, tag: keyTagAsKsk(signing.zsk) }).zones,
            { openSealed: open(signing.ring) },
          ),
        /./,
      ],
    ];
    for (const [what, compile, message] of refusals) {
      assert.throws(
        compile,
        (err: unknown) =>
          isMeridianError(err) &&
          err.code === 'E_DNSSEC_KEY' &&
          err.message.includes(`zone ${ZONE}`) &&
          message.test(err.message),
        what,
      );
    }
  });
});

/** The tag `key`'s public key gets with KSK flags (so only the key check, not the tag check, can refuse it). */
function keyTagAsKsk(key: TestKey): number {
  const rdata = Buffer.concat([Buffer.from([1, 1, 3, key.generated.algorithm]), key.generated.publicKey]);
  let ac = 0;
  for (let i = 0; i < rdata.length; i++) ac += (i & 1) === 0 ? rdata[i]! << 8 : rdata[i]!;
  ac += (ac >>> 16) & 0xffff;
  return ac & 0xffff;
}
