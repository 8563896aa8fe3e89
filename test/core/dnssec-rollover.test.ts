// The whole life of a zone's keys with an injected clock: enable, a pre-publish ZSK rollover walked
// step by step (before publication, the pre-publish window, the handover, the retired window, after
// removal, pruning on the next change), checking at each instant what keysAt gives the DNS tier and
// the invariants a validating resolver needs: a key never signs before every cached DNSKEY RRset
// holds it; every signature stays verifiable (its key published) for maxTtl + propagation after the
// key's last signature; exactly one ZSK signs at every instant; the KSK is untouched.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { keysAt } from '../../src/core/dnssec-keys.js';
import {
  keepRemovalsSafe,
  maxSignedTtl,
  planEnable,
  planZskRollover,
  pruneRemovedKeys,
  rolloverTimeline,
  dsSafeAtMs,
  type DnssecBlock,
  type NewZoneKey,
  type ZoneTtls,
} from '../../src/core/dnssec-rollover.js';
import { MeridianError } from '../../src/core/errors.js';

const S = 1000;
const T0 = Date.parse('2026-03-01T00:00:00.000Z');

const ZONE: ZoneTtls & { name: string } = {
  name: 'roll.test',
  ttl: 600,
  soa: { ttl: 3600, minimum: 300 },
  records: [{ ttl: 60 }, {}, { ttl: 7200 }],
  balanced: [{ ttl: 30 }],
};

function newKey(tag: number): NewZoneKey {
  return { tag, algorithm: 13, publicKey: `pub-${tag}`, privateKey: `enc:v1:k1:sealed-${tag}` };
}

function refusedWith(code: string, pattern: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof MeridianError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  };
}

describe('maxSignedTtl', () => {
  it('is the largest TTL of any signed RRset: records, balanced names, SOA, NS, negative, DNSKEY', () => {
    assert.equal(maxSignedTtl(ZONE), 7200, 'a static record with its own TTL');
    const small = { ...ZONE, records: [{ ttl: 60 }], balanced: [{ ttl: 30 }] };
    assert.equal(maxSignedTtl(small), 3600, 'the SOA TTL');
    assert.equal(maxSignedTtl({ ...small, soa: { ttl: 100, minimum: 50 } }), 600, 'the zone TTL (apex NS)');
    assert.equal(
      maxSignedTtl({ ...small, ttl: 10, soa: { ttl: 100, minimum: 5000 }, balanced: [{ ttl: 900 }] }),
      900,
      'a balanced name',
    );
    assert.equal(maxSignedTtl({ ...small, dnssec: { dnskeyTtl: 86400 } }), 86400, 'the DNSKEY TTL');
    assert.equal(maxSignedTtl(small, 9000), 9000, 'a DNSKEY TTL given explicitly');
  });
});

describe('DNSSEC key timeline', () => {
  const enabled = planEnable(
    'roll.test',
    { dnskeyTtl: 3600, propagationSeconds: 300 },
    {
      ksk: newKey(101),
      zsk: newKey(202),
    },
    T0,
  );

  it('enable: a KSK and a ZSK, published and signing at once, settings defaulted', () => {
    assert.equal(enabled.keys.length, 2);
    assert.deepEqual(
      enabled.keys.map((k) => [k.role, k.tag, k.publishAt, k.activeAt, k.retireAt, k.removeAt]),
      [
        ['ksk', 101, '2026-03-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z', undefined, undefined],
        ['zsk', 202, '2026-03-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z', undefined, undefined],
      ],
    );
    assert.equal(enabled.signatureValidityDays, 14);
    assert.equal(enabled.refreshDays, 7);
    const at = keysAt(enabled.keys, T0);
    assert.equal(at.ksk?.tag, 101);
    assert.equal(at.zsk?.tag, 202);
    assert.equal(at.nextChangeMs, Number.POSITIVE_INFINITY);
    // The DS goes to the parent once unsigned answers from before T0 have left every cache.
    assert.equal(dsSafeAtMs(ZONE, enabled), T0 + (7200 + 300) * S);
    assert.throws(
      () => planEnable('roll.test', {}, { ksk: newKey(7), zsk: newKey(7) }, T0),
      refusedWith('E_CONFLICT', /share key tag 7/),
    );
  });

  // The rollover starts a day after enabling.
  const T = T0 + 86400 * S;
  const rollover = planZskRollover(ZONE, enabled, newKey(303), T);
  const block: DnssecBlock = rollover.dnssec;
  const dnskeyWait = (3600 + 300) * S;
  const cacheWait = (7200 + 300) * S;
  const handover = T + dnskeyWait;
  const removal = handover + cacheWait;

  it('pre-publish timing: publish now, sign after dnskeyTtl + propagation, remove after maxTtl + propagation', () => {
    assert.equal(rollover.maxTtl, 7200);
    assert.equal(rollover.newZsk.publishAt, new Date(T).toISOString());
    assert.equal(rollover.newZsk.activeAt, new Date(handover).toISOString());
    assert.equal(rollover.oldZsk.retireAt, new Date(handover).toISOString());
    assert.equal(rollover.oldZsk.removeAt, new Date(removal).toISOString());
    const ksk = block.keys.find((k) => k.role === 'ksk');
    assert.deepEqual(ksk, enabled.keys[0], 'the KSK is untouched');
    assert.equal(block.keys.length, 3);
  });

  it('walks the timeline: published set and signing keys at each step', () => {
    const expect = (t: number, published: number[], zsk: number, what: string): void => {
      const at = keysAt(block.keys, t);
      assert.deepEqual(at.published.map((k) => k.tag).sort(), published, `${what}: published`);
      assert.equal(at.zsk?.tag, zsk, `${what}: the signing ZSK`);
      assert.equal(at.ksk?.tag, 101, `${what}: the KSK signs the DNSKEY RRset throughout`);
    };
    expect(T - 1, [101, 202], 202, 'before publication');
    expect(T, [101, 202, 303], 202, 'publication instant');
    expect(T + dnskeyWait / 2, [101, 202, 303], 202, 'pre-publish window');
    expect(handover - 1, [101, 202, 303], 202, 'just before the handover');
    expect(handover, [101, 202, 303], 303, 'handover');
    expect(handover + cacheWait / 2, [101, 202, 303], 303, 'retired window');
    expect(removal - 1, [101, 202, 303], 303, 'just before removal');
    expect(removal, [101, 303], 303, 'after removal');
    expect(removal + 30 * 86400 * S, [101, 303], 303, 'long after');

    assert.equal(keysAt(block.keys, T - 1).nextChangeMs, T);
    assert.equal(keysAt(block.keys, T).nextChangeMs, handover);
    assert.equal(keysAt(block.keys, handover).nextChangeMs, removal);
    assert.equal(keysAt(block.keys, removal).nextChangeMs, Number.POSITIVE_INFINITY);

    const view = rolloverTimeline(block.keys, T + 1);
    assert.equal(view.changeUnderway, true);
    assert.deepEqual(
      view.keys.map((k) => [k.key.tag, k.phase]),
      [
        [101, 'active'],
        [202, 'active'],
        [303, 'published'],
      ],
    );
    assert.deepEqual(view.signing, { ksk: 101, zsk: 202 });
    assert.deepEqual(
      view.events.map((e) => [e.event, e.tag, e.at]),
      [
        ['activate', 303, new Date(handover).toISOString()],
        ['retire', 202, new Date(handover).toISOString()],
        ['remove', 202, new Date(removal).toISOString()],
      ],
    );
    const retired = rolloverTimeline(block.keys, handover + 1);
    assert.deepEqual(
      retired.keys.map((k) => k.phase),
      ['active', 'retired', 'active'],
    );
    const done = rolloverTimeline(block.keys, removal);
    assert.equal(done.changeUnderway, false);
    assert.deepEqual(done.events, []);
    assert.equal(done.keys.find((k) => k.key.tag === 202)?.phase, 'removed');
  });

  it('resolver invariants hold at every instant of the timeline', () => {
    // Sampled every 10 s over the whole timeline, plus each event instant and the millisecond before.
    const instants = new Set<number>();
    for (let t = T - 3600 * S; t <= removal + 3600 * S; t += 10 * S) instants.add(t);
    for (const e of [T, handover, removal]) for (const d of [-1, 0, 1]) instants.add(e + d);
    const sorted = [...instants].sort((a, b) => a - b);
    const lastSigned = new Map<number, number>();
    const publishedAt = (t: number): Set<number> =>
      new Set(keysAt(block.keys, t).published.map((k) => k.tag));

    for (const t of sorted) {
      const at = keysAt(block.keys, t);
      const signingZsks = block.keys.filter(
        (k) => k.role === 'zsk' && Date.parse(k.activeAt) <= t && t < Date.parse(k.retireAt ?? '9999-01-01'),
      );
      assert.equal(signingZsks.length, 1, `exactly one ZSK signs at ${new Date(t).toISOString()}`);
      assert.equal(at.zsk?.tag, signingZsks[0]?.tag);
      assert.equal(at.ksk?.tag, 101);
      const signer = at.zsk!;
      // Any DNSKEY RRset a resolver may hold now was fetched within the last dnskeyTtl, from a server
      // up to `propagation` behind: the signing key must have been in each of them.
      if (signer.tag === 303) {
        assert.ok(t - Date.parse(signer.publishAt) >= dnskeyWait, `303 signs too early at ${t - T} ms`);
        for (const back of [0, dnskeyWait / 2, dnskeyWait])
          assert.ok(publishedAt(t - back).has(303), `a DNSKEY RRset fetched ${back} ms ago lacks 303`);
      }
      lastSigned.set(signer.tag, t);
      lastSigned.set(101, t);
      // Every signature still cacheable (made within maxTtl + propagation) has its key published.
      const published = publishedAt(t);
      for (const [tag, last] of lastSigned)
        if (t - last <= cacheWait)
          assert.ok(published.has(tag), `key ${tag} gone ${t - last} ms after signing`);
    }
    assert.equal(lastSigned.get(202), handover - 1, "202's last signature is just before the handover");
  });

  it('refuses a second rollover while one is unfinished, at every step until removal', () => {
    for (const t of [T, T + 1, handover - 1, handover, handover + 1, removal - 1])
      assert.throws(
        () => planZskRollover(ZONE, block, newKey(404), t),
        refusedWith('E_CONFLICT', /still under way.*until 2026-03-02T03:10:00\.000Z/),
        `at ${t - T} ms`,
      );
  });

  it('a TTL raised during the rollover pushes the old key removal back, never forward', () => {
    const raised = { ...ZONE, records: [...ZONE.records, { ttl: 86400 }] };
    const safe = keepRemovalsSafe(raised, block, handover + 1);
    assert.equal(safe[1]?.removeAt, new Date(handover + (86400 + 300) * S).toISOString());
    assert.deepEqual([safe[0], safe[2]], [block.keys[0], block.keys[2]], 'the other keys are untouched');
    const lowered = keepRemovalsSafe({ ...ZONE, records: [] }, block, handover + 1);
    assert.deepEqual(lowered, [...block.keys], 'a lower TTL does not bring the removal forward');
    assert.deepEqual(keepRemovalsSafe(raised, block, removal), [...block.keys], 'past removal: left alone');
  });

  it('prunes removed keys on the next change, and the next rollover starts from the new key', () => {
    assert.deepEqual(
      pruneRemovedKeys(block.keys, removal).map((k) => k.tag),
      [101, 303],
    );
    assert.deepEqual(
      pruneRemovedKeys(block.keys, removal - 1).map((k) => k.tag),
      [101, 202, 303],
    );
    const later = removal + 86400 * S;
    const second = planZskRollover(ZONE, block, newKey(505), later);
    assert.deepEqual(
      second.dnssec.keys.map((k) => [k.tag, k.retireAt !== undefined]),
      [
        [101, false],
        [303, true],
        [505, false],
      ],
      'the removed key 202 is pruned; 303 is the old key now',
    );
    assert.equal(second.oldZsk.tag, 303);
    assert.throws(
      () => planZskRollover(ZONE, block, newKey(101), later),
      refusedWith('E_CONFLICT', /key tag 101 is already in use/),
    );
    assert.throws(
      () => planZskRollover(ZONE, block, { ...newKey(606), algorithm: 15 }, later),
      refusedWith('E_VALIDATION', /algorithm rollover is not supported/),
    );
  });
});
