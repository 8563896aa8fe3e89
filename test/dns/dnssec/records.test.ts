// The DNSSEC record builders: canonical names and RRset order (RFC 4034 §6), RRSIG fields and
// signatures that verify over signed data built independently (test/dns/dnssec/wire.ts), NSEC type
// bitmaps (the RFC 4034 §4.3 example) and the compact-denial next name.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalNameWire, canonicalRrset, labelCount } from '../../../src/dns/dnssec/canonical.js';
import { NXNAME_BITMAP, nextName, nsecRecord, typeBitmap } from '../../../src/dns/dnssec/nsec.js';
import { makeRrsig } from '../../../src/dns/dnssec/rrsig.js';
import type { Rr } from '../../../src/dns/wire/encoder.js';
import {
  generateKey,
  keyTag,
  dnskeyRdata,
  privateKeyFromPkcs8,
  verifyData,
} from '../../../src/infra/dnssec/keys.js';
import { nameWire, parseNsec, parseRrsig, signedDataOf, T } from './wire.js';

const a = (owner: string, ip: number[], ttl = 60): Rr => ({
  owner,
  type: T.A,
  ttl,
  rdata: [Buffer.from(ip)],
});

void describe('canonical form (RFC 4034 §6)', () => {
  void it('writes names lower case and uncompressed, the root as one zero byte', () => {
    assert.deepEqual(
      canonicalNameWire('WWW.Example.Test'),
      Buffer.from('\x03www\x07example\x04test\x00', 'latin1'),
    );
    assert.deepEqual(canonicalNameWire(''), Buffer.from([0]));
    assert.deepEqual(canonicalNameWire('\u0000.x.test'), Buffer.from('\x01\x00\x01x\x04test\x00', 'latin1'));
  });

  void it('counts labels without the root or a leading wildcard', () => {
    assert.equal(labelCount('www.example.test'), 3);
    assert.equal(labelCount('*.wild.example.test'), 3);
    assert.equal(labelCount('example.test'), 2);
    assert.equal(labelCount(''), 0);
    assert.equal(labelCount('*'), 0);
  });

  void it('orders an RRset by RDATA bytes and writes names inside RDATA uncompressed in lower case', () => {
    const rrs = [a('x.test', [10, 0, 0, 2]), a('x.test', [9, 255, 0, 1]), a('x.test', [10, 0, 0, 1])];
    const data = canonicalRrset('x.test', T.A, 300, rrs);
    const one = (ip: number[]): Buffer =>
      Buffer.concat([nameWire('x.test'), Buffer.from([0, 1, 0, 1, 0, 0, 1, 44, 0, 4]), Buffer.from(ip)]);
    assert.deepEqual(data, Buffer.concat([one([9, 255, 0, 1]), one([10, 0, 0, 1]), one([10, 0, 0, 2])]));

    const mx: Rr = {
      owner: 'x.test',
      type: T.MX,
      ttl: 5,
      rdata: [Buffer.from([0, 10]), { name: 'Mail.X.test', compress: true }],
    };
    const mxData = canonicalRrset('x.test', T.MX, 5, [mx]);
    assert.deepEqual(
      mxData.subarray(mxData.length - 15),
      Buffer.concat([Buffer.from([0, 10]), nameWire('mail.x.test')]),
    );
  });
});

void describe('RRSIG (RFC 4034 §3)', () => {
  for (const algorithm of [13, 15] as const) {
    void it(`signs an RRset with algorithm ${algorithm}: fields as asked, signature verifies over independently built data`, () => {
      const key = generateKey(algorithm);
      const tag = keyTag(dnskeyRdata(256, algorithm, key.publicKey));
      const privateKey = privateKeyFromPkcs8(key.privateKeyPkcs8, algorithm, key.publicKey);
      const rrs = [a('www.example.test', [192, 0, 2, 2], 30), a('www.example.test', [192, 0, 2, 1], 30)];
      const rr = makeRrsig({
        owner: 'www.example.test',
        type: T.A,
        ttl: 30,
        rrs,
        signer: 'example.test',
        key: { tag, algorithm, privateKey },
        inception: 1_800_000_000,
        expiration: 1_801_209_600,
      });
      assert.equal(rr.type, T.RRSIG);
      assert.equal(rr.ttl, 30);
      const rdata = Buffer.concat(rr.rdata.map((p) => (Buffer.isBuffer(p) ? p : nameWire(p.name))));
      const sig = parseRrsig(rdata);
      assert.deepEqual(
        { ...sig, header: undefined, signature: undefined },
        {
          typeCovered: T.A,
          algorithm,
          labels: 3,
          originalTtl: 30,
          expiration: 1_801_209_600,
          inception: 1_800_000_000,
          keyTag: tag,
          signer: 'example.test',
          header: undefined,
          signature: undefined,
        },
      );
      assert.equal(sig.signature.length, 64);
      const records = rrs.map((r) => ({
        owner: r.owner,
        type: r.type,
        ttl: r.ttl,
        rdata: r.rdata[0] as Buffer,
      }));
      const data = signedDataOf(sig, 'www.example.test', records);
      assert.ok(verifyData(key.publicKey, algorithm, data, sig.signature));
      // The same signature over other data fails: the check is real.
      const other = signedDataOf(sig, 'www.example.test', records.slice(1));
      assert.ok(!verifyData(key.publicKey, algorithm, other, sig.signature));
    });
  }

  void it('labels a record a wildcard synthesized with the query name (not counting a literal leading *)', () => {
    const key = generateKey(13);
    const privateKey = privateKeyFromPkcs8(key.privateKeyPkcs8, 13);
    const sign = (owner: string): number => {
      const rr = makeRrsig({
        owner,
        type: T.A,
        ttl: 1,
        rrs: [a(owner, [1, 2, 3, 4])],
        signer: 'example.test',
        key: { tag: 1, algorithm: 13, privateKey },
        inception: 0,
        expiration: 1,
      });
      return (rr.rdata[0] as Buffer)[3]!;
    };
    assert.equal(sign('a.b.wild.example.test'), 5);
    assert.equal(sign('*.wild.example.test'), 3);
  });
});

void describe('NSEC (RFC 4034 §4, RFC 9824)', () => {
  void it('builds the RFC 4034 §4.3 example bitmap (A MX RRSIG NSEC TYPE1234)', () => {
    // Window 0: A, MX, RRSIG, NSEC in 6 bytes; window 4: type 1234 = bit 210, in 27 bytes.
    const want = Buffer.concat([
      Buffer.from([0x00, 0x06, 0x40, 0x01, 0x00, 0x00, 0x00, 0x03, 0x04, 0x1b]),
      Buffer.alloc(26),
      Buffer.from([0x20]),
    ]);
    assert.deepEqual(typeBitmap([1234, T.NSEC, T.A, T.RRSIG, 15]), want);
  });

  void it('marks a nonexistent name with RRSIG, NSEC and NXNAME only', () => {
    const nsec = nsecRecord('nope.example.test', 'example.test', 300, NXNAME_BITMAP);
    const rdata = Buffer.concat(nsec.rdata.map((p) => (Buffer.isBuffer(p) ? p : nameWire(p.name))));
    assert.deepEqual(parseNsec(rdata), {
      next: '\u0000.nope.example.test',
      types: [T.RRSIG, T.NSEC, T.NXNAME],
    });
    assert.equal(nsec.ttl, 300);
    assert.equal(nsec.type, T.NSEC);
  });

  void it('takes the immediate successor as next name, the apex when one more label does not fit', () => {
    assert.equal(nextName('x.example.test', 'example.test'), '\u0000.x.example.test');
    const long = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(56)}.test`;
    assert.equal(long.length + 2, 255, 'a name of the longest wire length');
    assert.equal(nextName(long, 'test'), 'test');
  });
});
