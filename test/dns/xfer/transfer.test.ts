// Zone transfer served by a real Meridian DNS listener, checked with the real kdig and dig: AXFR
// with and without TSIG (allowed, refused, wrong key, wrong secret), a transfer large enough to take
// several messages with every message signed (BIND's dig validates each MAC), IXFR (current serial → one
// SOA; older → the whole zone; over UDP → the SOA), balanced names as the configured default
// client's answer, incoming NOTIFY refused, signed ordinary queries answered signed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFixture, testDnsConfig, type Fixture } from '../fixture.js';
import { dig } from '../../helpers/dig.js';
import { kdig, type KdigRecord } from '../../helpers/kdig.js';
import type { DigTarget } from '../../helpers/dig.js';

const KEY = { name: 'xfer-key', secret: Buffer.alloc(32, 7).toString('base64') };
const OTHER_KEY = { name: 'other-key', secret: Buffer.alloc(32, 9).toString('base64') };
const SERIAL = 2026112101;
/** Enough A records that a transfer needs several 16 KiB messages. */
const BULK = 3000;

function config(): ReturnType<typeof testDnsConfig> {
  const base = testDnsConfig().zones[0]!;
  return testDnsConfig({
    tsigKeys: [
      { name: KEY.name, algorithm: 'hmac-sha256', secret: KEY.secret },
      { name: OTHER_KEY.name, algorithm: 'hmac-sha256', secret: OTHER_KEY.secret },
    ],
    // Locates to the "us" region in the test geo database (see test/dns/answer/responder.test.ts).
    transfer: { defaultClient: '2001:db8:2::1' },
    zones: [
      {
        ...base,
        records: [
          ...base.records,
          ...Array.from({ length: BULK }, (_, i) => ({
            name: `h${i}.bulk`,
            type: 'A',
            values: [`10.0.${i >> 8}.${i & 255}`],
          })),
        ],
        transfer: { allow: ['127.0.0.0/8', '::1/128'], tsigKey: KEY.name },
      },
      {
        name: 'open.test',
        soa: { mname: 'ns1', rname: 'hostmaster', serial: 7 },
        ns: ['ns1'],
        records: [{ name: 'ns1', type: 'A', values: ['192.0.2.1'] }],
        transfer: { allow: ['127.0.0.1/32'] },
      },
      {
        name: 'locked.test',
        soa: { mname: 'ns1', rname: 'hostmaster' },
        ns: ['ns1'],
        records: [{ name: 'ns1', type: 'A', values: ['192.0.2.1'] }],
        transfer: { allow: ['192.0.2.0/24'] },
      },
      {
        name: 'private.test',
        soa: { mname: 'ns1', rname: 'hostmaster' },
        ns: ['ns1'],
        records: [{ name: 'ns1', type: 'A', values: ['192.0.2.1'] }],
      },
    ],
  });
}

function data(records: readonly KdigRecord[], name: string, type: string): string[] {
  return records
    .filter((r) => r.name === name && r.type === type)
    .map((r) => r.data)
    .sort();
}

describe('zone transfer (AXFR/IXFR, TSIG, NOTIFY)', () => {
  let f: Fixture;
  let tcp: DigTarget;
  before(async () => {
    f = await startFixture({ config: config() });
    tcp = f.v4;
  });
  after(async () => {
    await f.close();
  });

  it('transfers the zone signed with its key, in several messages, each signature verified by kdig', async () => {
    const r = await kdig(tcp, ['AXFR', 'example.test'], KEY);
    assert.equal(r.error, '', r.raw.slice(-2000));
    assert.ok(r.messages !== undefined && r.messages > 1, `expected several messages, got ${r.messages}`);
    const recs = r.records;
    assert.equal(recs[0]!.type, 'SOA');
    assert.equal(recs.at(-1)!.type, 'SOA');
    assert.equal(recs.filter((x) => x.type === 'SOA').length, 2);
    assert.match(recs[0]!.data, new RegExp(` ${SERIAL} `));
    assert.deepEqual(data(recs, 'example.test.', 'NS'), ['ns1.example.test.', 'ns2.example.test.']);
    assert.deepEqual(data(recs, 'mail.example.test.', 'A'), ['192.0.2.25']);
    assert.deepEqual(data(recs, 'sub.example.test.', 'NS'), ['ns1.sub.example.test.']);
    assert.deepEqual(
      data(recs, 'ns1.sub.example.test.', 'A'),
      ['192.0.2.99'],
      'glue below a delegation is transferred',
    );
    assert.deepEqual(data(recs, '*.wild.example.test.', 'A'), ['192.0.2.77']);
    assert.equal(recs.filter((x) => x.name.endsWith('.bulk.example.test.')).length, BULK);
    // The balanced name as the default client (an address in the "us" region) is answered.
    assert.deepEqual(data(recs, 'www.example.test.', 'A'), ['198.51.100.10']);
    assert.deepEqual(data(recs, 'www.example.test.', 'AAAA'), ['2001:db8:20::1']);
    // No other zone's data.
    assert.equal(recs.filter((x) => x.name.endsWith('open.test.')).length, 0);
  });

  it('signs every message of a multi-message transfer so that BIND dig validates each one (RFC 8945 §5.3.1)', async () => {
    // kdig checks the first signature only; dig warns "Some TSIG could not be validated" otherwise.
    const r = await dig(tcp, ['AXFR', 'example.test', '-y', `hmac-sha256:${KEY.name}:${KEY.secret}`], {
      timeoutSeconds: 5,
    });
    const size = /XFR size: (\d+) records \(messages (\d+),/.exec(r.raw);
    assert.ok(size !== null, r.raw.slice(-1000));
    assert.ok(Number(size[2]) > 1, `expected several messages, got ${size[2]}`);
    assert.doesNotMatch(r.raw, /TSIG could not be validated|Couldn't verify|tsig verify failure/i);
  });

  it('refuses an unsigned transfer of a zone that requires a key, and one signed with another key', async () => {
    const unsigned = await kdig(tcp, ['AXFR', 'example.test']);
    assert.match(unsigned.error, /REFUSED/);
    assert.equal(unsigned.records.length, 0);
    const otherKey = await kdig(tcp, ['AXFR', 'example.test'], OTHER_KEY);
    assert.match(otherKey.error, /REFUSED/);
  });

  it('answers a wrong secret with BADSIG and an unknown key with BADKEY (NOTAUTH, RFC 8945 §5.2)', async () => {
    const wrongSecret = await kdig(tcp, ['AXFR', 'example.test'], {
      name: KEY.name,
      secret: OTHER_KEY.secret,
    });
    assert.match(wrongSecret.error, /BADSIG/);
    assert.equal(wrongSecret.records.length, 0);
    const unknownKey = await kdig(tcp, ['AXFR', 'example.test'], { name: 'nobody', secret: KEY.secret });
    assert.match(unknownKey.error, /BADKEY/);
  });

  it('transfers a zone without a key to an allowed address, refuses others, NOTAUTH for zones we do not serve', async () => {
    const open = await kdig(tcp, ['AXFR', 'open.test']);
    assert.equal(open.error, '');
    assert.deepEqual(
      open.records.map((x) => x.type),
      ['SOA', 'NS', 'A', 'SOA'],
    );
    // Allowed for 127.0.0.1 only: the same server over ::1 refuses.
    assert.match((await kdig(f.v6, ['AXFR', 'open.test'])).error, /REFUSED/);
    assert.match((await kdig(tcp, ['AXFR', 'locked.test'])).error, /REFUSED/);
    assert.match((await kdig(tcp, ['AXFR', 'private.test'])).error, /REFUSED/);
    assert.match((await kdig(tcp, ['AXFR', 'elsewhere.test'])).error, /NOTAUTH/);
  });

  it('answers IXFR: one SOA when the client is current, the whole zone (AXFR form) when it is behind', async () => {
    const current = await kdig(tcp, [`IXFR=${SERIAL}`, 'example.test'], KEY);
    assert.equal(current.error, '', current.raw.slice(-1000));
    assert.deepEqual(
      current.records.map((x) => x.type),
      ['SOA'],
    );
    const behind = await kdig(tcp, [`IXFR=${SERIAL - 1}`, 'example.test'], KEY);
    assert.equal(behind.error, '', behind.raw.slice(-1000));
    const axfr = await kdig(tcp, ['AXFR', 'example.test'], KEY);
    assert.equal(behind.records.length, axfr.records.length);
    // Over UDP: the current SOA only, which sends the client to TCP (RFC 1995 §2).
    const udp = await kdig(tcp, ['+notcp', `IXFR=${SERIAL - 1}`, 'example.test'], KEY);
    assert.deepEqual(
      udp.records.map((x) => x.type),
      ['SOA'],
    );
  });

  it('answers a signed SOA query signed (a secondary refresh check) and refuses incoming NOTIFY', async () => {
    const soa = await kdig(tcp, ['+notcp', 'example.test', 'SOA'], KEY);
    assert.equal(soa.error, '', soa.raw);
    assert.equal(soa.status, 'NOERROR');
    assert.match(soa.raw, /TSIG\s+hmac-sha256\. \d+ 300 32 /);
    const notify = await dig(tcp, ['+opcode=notify', '+norec', 'example.test', 'SOA']);
    assert.equal(notify.opcode, 'NOTIFY');
    assert.equal(notify.status, 'REFUSED');
    // Plain queries are untouched by the transfer layer.
    const www = await dig(tcp, ['+norec', 'mail.example.test', 'A']);
    assert.equal(www.status, 'NOERROR');
    assert.deepEqual(
      www.answer.map((x) => x.data),
      ['192.0.2.25'],
    );
  });
});
