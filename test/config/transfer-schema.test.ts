// The zone transfer settings of the `dns` schema: a zone's `transfer` block, `dns.tsigKeys` and
// `dns.transfer`, each bad value rejected with the path of the field that is wrong.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dnsSchema } from '../../src/config/dns-schema.js';

const SECRET = Buffer.alloc(32, 1).toString('base64');

function zone(transfer: unknown): Record<string, unknown> {
  return { name: 'example.test', soa: { mname: 'ns1', rname: 'hostmaster' }, ns: ['ns1'], transfer };
}

/** The first issue's path and message, or undefined when the input is valid. */
function problem(input: Record<string, unknown>): { path: string; message: string } | undefined {
  const r = dnsSchema.safeParse(input);
  if (r.success) return undefined;
  const issue = r.error.issues[0]!;
  return { path: issue.path.join('.'), message: issue.message };
}

describe('dns transfer settings', () => {
  it('accepts a zone with allow, notify and a key, and fills the defaults', () => {
    const dns = dnsSchema.parse({
      tsigKeys: [{ name: 'xfer-key', algorithm: 'hmac-sha256', secret: SECRET }],
      zones: [
        zone({
          allow: ['192.0.2.0/24', '2001:db8::/32'],
          notify: ['192.0.2.53:53', '[2001:db8::53]:53'],
          tsigKey: 'XFER-KEY.',
        }),
      ],
    });
    assert.deepEqual(dns.transfer, { notifyAttempts: 5, notifyRetryMs: 1000 });
    assert.deepEqual(dns.zones[0]!.transfer?.allow, ['192.0.2.0/24', '2001:db8::/32']);
    assert.equal(dnsSchema.parse({ zones: [zone(undefined)] }).zones[0]!.transfer, undefined);
  });

  it('names the bad field', () => {
    const key = { name: 'xfer-key', algorithm: 'hmac-sha256', secret: SECRET };
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ zones: [zone({ allow: ['192.0.2.1/24'] })] }, 'zones.0.transfer.allow.0', /CIDR/],
      [{ zones: [zone({ notify: ['192.0.2.53'] })] }, 'zones.0.transfer.notify.0', /host:port/],
      [
        { zones: [zone({ allow: [], tsigKey: 'missing' })] },
        'zones.0.transfer.tsigKey',
        /no TSIG key named missing/,
      ],
      [{ zones: [zone({ allow: [], extra: 1 })] }, 'zones.0.transfer', /extra/],
      [{ tsigKeys: [{ ...key, algorithm: 'hmac-md5' }] }, 'tsigKeys.0.algorithm', /hmac-sha256/],
      [{ tsigKeys: [{ ...key, secret: 'not base64!' }] }, 'tsigKeys.0.secret', /base64/],
      [{ tsigKeys: [{ ...key, secret: 'c2hvcnQ=' }] }, 'tsigKeys.0.secret', /at least 16 bytes/],
      [{ tsigKeys: [{ ...key, name: 'bad name' }] }, 'tsigKeys.0.name', /key name/],
      [{ tsigKeys: [key, { ...key, name: 'XFER-key' }] }, 'tsigKeys.1.name', /defined twice/],
      [{ transfer: { defaultClient: 'nowhere' } }, 'transfer.defaultClient', /IP address/],
      [{ transfer: { notifyAttempts: 0 } }, 'transfer.notifyAttempts', /positive/],
    ];
    for (const [input, path, message] of cases) {
      const p = problem(input);
      assert.ok(p !== undefined, `expected ${JSON.stringify(input)} to be rejected`);
      assert.equal(p.path, path, JSON.stringify(p));
      assert.match(p.message, message);
    }
  });
});
