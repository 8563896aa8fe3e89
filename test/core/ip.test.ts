import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bytesToIp, cidrContains, ipToBytes, parseCidr, unmapIPv4 } from '../../src/core/ip.js';

void describe('core/ip', () => {
  void it('unmaps IPv4-mapped IPv6 addresses in both spellings and leaves others alone', () => {
    assert.equal(unmapIPv4('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(unmapIPv4('::FFFF:c000:201'), '192.0.2.1');
    assert.equal(unmapIPv4('2001:db8:ffff::1'), '2001:db8:ffff::1');
    assert.equal(unmapIPv4('::1'), '::1');
    assert.equal(unmapIPv4('198.51.100.7'), '198.51.100.7');
    assert.equal(unmapIPv4('not-an-ip-ffff'), 'not-an-ip-ffff');
  });

  void it('parses CIDRs strictly (host bits zero) and tests containment', () => {
    const net = parseCidr('192.0.2.0/25');
    assert.ok(net !== undefined);
    assert.equal(net.text, '192.0.2.0/25');
    assert.equal(parseCidr('192.0.2.1/24'), undefined, 'host bits set');
    assert.equal(parseCidr('192.0.2.0/33'), undefined);
    const inside = ipToBytes('192.0.2.100');
    const outside = ipToBytes('192.0.2.200');
    assert.ok(inside !== undefined && outside !== undefined);
    assert.equal(cidrContains(net, inside), true);
    assert.equal(cidrContains(net, outside), false);
  });

  void it('round-trips IPv6 with RFC 5952 compression', () => {
    const b = ipToBytes('2001:0db8:0000:0000:0000:0000:0000:0001');
    assert.ok(b !== undefined);
    assert.equal(bytesToIp(b), '2001:db8::1');
  });
});
