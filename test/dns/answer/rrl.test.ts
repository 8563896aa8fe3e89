// Response rate limiting: the bucket logic, then a dedicated server with a low limit where UDP
// responses slip (TC=1) or are dropped, and TCP is never limited.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { RateLimiter } from '../../../src/dns/answer/rrl.js';
import { addressFromText } from '../../../src/dns/wire/address.js';
import { dig } from '../../helpers/dig.js';
import { startFixture, testDnsConfig, type Fixture } from '../fixture.js';
import { waitFor } from '../../helpers/wait.js';

/** Client addresses reach the limiter as bytes, as from the socket. */
function ip(text: string): Uint8Array {
  const bytes = addressFromText(text);
  assert.ok(bytes !== undefined, text);
  return bytes;
}

void describe('RateLimiter', () => {
  const config = { enabled: true, responsesPerSecond: 5, slip: 2, ipv4Prefix: 24, ipv6Prefix: 56 };

  void it('passes the burst, then slips every 2nd and drops the rest, and refills with time', () => {
    const rl = new RateLimiter({ config });
    const verdicts = Array.from({ length: 11 }, () => rl.check(ip('192.0.2.1'), 1000));
    assert.deepEqual(verdicts, [
      'pass',
      'pass',
      'pass',
      'pass',
      'pass',
      'drop',
      'slip',
      'drop',
      'slip',
      'drop',
      'slip',
    ]);
    assert.equal(rl.check(ip('192.0.2.200'), 1000), 'drop', 'same /24 shares the bucket');
    assert.equal(rl.check(ip('192.0.3.1'), 1000), 'pass', 'another /24 has its own');
    assert.equal(rl.check(ip('192.0.2.1'), 1200), 'pass', 'one token after 200 ms at 5/s');
    assert.equal(rl.check(ip('192.0.2.1'), 1200), 'slip');
  });

  void it('keys IPv6 clients by /56 and slip 0 drops everything', () => {
    const rl = new RateLimiter({ config: { ...config, responsesPerSecond: 1, slip: 0 } });
    assert.equal(rl.check(ip('2001:db8:0:100::1'), 0), 'pass');
    assert.equal(rl.check(ip('2001:db8:0:1ff::2'), 0), 'drop', 'same /56');
    assert.equal(rl.check(ip('2001:db8:0:200::1'), 0), 'pass', 'another /56');
    assert.equal(rl.key(ip('2001:db8:0:1ff::2')), rl.key(ip('2001:db8:0:100::1')));
  });

  void it('bounds its memory', () => {
    const rl = new RateLimiter({ config, maxBuckets: 100 });
    for (let i = 0; i < 10_000; i++) rl.check(ip(`10.${(i >> 8) & 255}.${i & 255}.1`), 5000);
    assert.ok(rl.size <= 200, `held ${rl.size} buckets`);
  });
});

void describe('RRL on a live server (low limit)', () => {
  let f: Fixture;
  before(async () => {
    f = await startFixture({
      config: testDnsConfig({ rrl: { enabled: true, responsesPerSecond: 5, slip: 2 } }),
    });
  });
  after(async () => {
    await f?.close();
  });

  void it('slips TC=1 and drops over the limit on UDP; TCP still answers; metrics count both', async () => {
    const sock = createSocket('udp4');
    const replies: Buffer[] = [];
    sock.on('message', (m) => replies.push(m));
    const q = Buffer.from('abcd0000000100000000000003777777076578616d706c65047465737400000' + '10001', 'hex');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    for (let i = 0; i < 40; i++) sock.send(q, f.v4.port, '127.0.0.1');
    // At most 2 s for the burst's replies; fewer may come, and the counts are asserted below.
    await waitFor('22 replies', () => replies.length >= 5 + 17, { timeoutMs: 2000 }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    sock.close();
    const full = replies.filter((m) => (m[2]! & 0x02) === 0);
    const tc = replies.filter((m) => (m[2]! & 0x02) !== 0);
    assert.ok(full.length >= 5 && full.length <= 8, `${full.length} full answers`);
    assert.ok(tc.length >= 15 && tc.length <= 20, `${tc.length} slipped`);
    for (const m of tc) assert.equal(m.readUInt16BE(6), 0, 'slipped replies are empty');
    assert.ok(replies.length < 40, 'some were dropped');

    const tcp = await dig(f.v4, ['+norec', '+tcp', 'www.example.test', 'A']);
    assert.equal(tcp.status, 'NOERROR');
    assert.equal(tcp.answer.length, 1);

    const text = await f.registry.metrics();
    assert.match(text, /meridian_dns_rate_limited_total\{action="slip"\} (1[5-9]|20)/);
    assert.match(text, /meridian_dns_rate_limited_total\{action="drop"\} \d+/);
  });
});
