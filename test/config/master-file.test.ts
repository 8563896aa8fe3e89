// Master files (src/config/master-file.ts): a hand-written RFC 1035 file with every supported
// construct parses to the expected zone entry; export → parse → export is stable and the parsed zone
// compiles to the same transfer contents; BIND's named-checkzone accepts every exported zone; each
// unsupported or malformed line is rejected naming its line number, with nothing returned.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { dnsSchema, type ZoneConfig } from '../../src/config/dns-schema.js';
import { exportMasterFile, parseMasterFile } from '../../src/config/master-file.js';
import { MeridianError } from '../../src/core/errors.js';
import { ZoneSet } from '../../src/dns/answer/zones.js';
import { testDnsConfig } from '../dns/fixture.js';

const SAMPLE = `; example.org, written by hand
$ORIGIN example.org.
$TTL 1h
@   IN  SOA ns1 hostmaster (
            2026120301 ; serial
            2h         ; refresh
            15m        ; retry
            2w         ; expire
            300 )      ; minimum
    IN  NS  ns1
    IN  NS  ns2.example.net.
    IN  MX  10 mail
    IN  TXT "v=spf1 mx -all"
    IN  CAA 0 issue "letsencrypt.org"
ns1 300 IN A 192.0.2.53
    IN 300 AAAA 2001:db8::53
mail    A   192.0.2.25
www     CNAME   @
_sip._tcp  SRV 10 60 5060 mail.example.org.
dkim._domainkey TXT "v=DKIM1; k=rsa; " "p=MIGf\\"quoted\\"" ; two strings joined
esc     TXT caf\\195\\169
*.wild  A   192.0.2.77
sub     NS  ns1.sub
ns1.sub A   192.0.2.99
$ORIGIN deep.example.org.
host    A   192.0.2.7
`;

const dir = mkdtempSync(join(tmpdir(), 'meridian-master-file-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** named-checkzone's verdict on a master file: its output, throwing when it rejects the zone. */
function namedCheckzone(zone: string, text: string): string {
  const file = join(dir, `${zone}.zone`);
  writeFileSync(file, text);
  return execFileSync('named-checkzone', ['-k', 'fail', '-n', 'fail', zone, file], { encoding: 'utf8' });
}

/** Parses a zone entry through the real config schema, as the store or YAML would hold it. */
function viaSchema(zone: Omit<ZoneConfig, 'balanced'> | ZoneConfig): ZoneConfig {
  return dnsSchema.parse({ zones: [zone] }).zones[0]!;
}

function rejects(text: string, line: number, message: RegExp): void {
  assert.throws(
    () => parseMasterFile(text, 'example.org'),
    (err: unknown) => {
      assert.ok(err instanceof MeridianError, String(err));
      assert.equal(err.code, 'E_VALIDATION');
      assert.match(err.message, new RegExp(`^line ${line}: `));
      assert.match(err.message, message);
      return true;
    },
  );
}

describe('parseMasterFile', () => {
  it('reads $ORIGIN, $TTL with units, @, relative names, omitted owners, parentheses, comments, quoted TXT', () => {
    const z = parseMasterFile(SAMPLE, 'example.org.');
    assert.equal(z.name, 'example.org');
    assert.equal(z.ttl, 3600);
    assert.deepEqual(z.soa, {
      mname: 'ns1.example.org.',
      rname: 'hostmaster.example.org.',
      serial: 2026120301,
      serialScheme: 'date',
      refresh: 7200,
      retry: 900,
      expire: 1209600,
      minimum: 300,
      ttl: 3600,
    });
    assert.deepEqual(z.ns, ['ns1.example.org.', 'ns2.example.net.']);
    const byKey = new Map(z.records.map((r) => [`${r.name}/${r.type}`, r]));
    assert.deepEqual(byKey.get('@/MX')?.values, ['10 mail.example.org.']);
    assert.deepEqual(byKey.get('@/TXT')?.values, ['v=spf1 mx -all']);
    assert.deepEqual(byKey.get('@/CAA')?.values, ['0 issue "letsencrypt.org"']);
    assert.deepEqual(byKey.get('ns1/A'), { name: 'ns1', type: 'A', ttl: 300, values: ['192.0.2.53'] });
    assert.deepEqual(byKey.get('ns1/AAAA'), {
      name: 'ns1',
      type: 'AAAA',
      ttl: 300,
      values: ['2001:db8::53'],
    });
    assert.deepEqual(byKey.get('mail/A'), { name: 'mail', type: 'A', values: ['192.0.2.25'] });
    assert.deepEqual(byKey.get('www/CNAME')?.values, ['example.org.']);
    assert.deepEqual(byKey.get('_sip._tcp/SRV')?.values, ['10 60 5060 mail.example.org.']);
    assert.deepEqual(byKey.get('dkim._domainkey/TXT')?.values, ['v=DKIM1; k=rsa; p=MIGf"quoted"']);
    assert.deepEqual(byKey.get('esc/TXT')?.values, ['café']);
    assert.deepEqual(byKey.get('*.wild/A')?.values, ['192.0.2.77']);
    assert.deepEqual(byKey.get('sub/NS')?.values, ['ns1.sub.example.org.']);
    assert.deepEqual(byKey.get('host.deep/A')?.values, ['192.0.2.7']);
    // It is a valid zone entry that compiles.
    const compiled = new ZoneSet([viaSchema(z)]);
    assert.equal(compiled.zones[0]!.serial, 2026120301);
    assert.ok(compiled.get('host.deep.example.org') !== undefined);
  });

  it('round-trips: export → parse → export gives the same text, and named-checkzone accepts both exports', () => {
    for (const zone of [viaSchema(parseMasterFile(SAMPLE, 'example.org')), testDnsConfig().zones[0]!]) {
      const text = exportMasterFile(zone);
      namedCheckzone(zone.name, text);
      const back = parseMasterFile(text, zone.name);
      assert.equal(exportMasterFile(back), text.replace(/^; balanced name .*\n/gm, ''));
      // Same records once compiled (the fixture's balanced names are not in a file).
      const a = new ZoneSet([{ ...zone, balanced: [] }]);
      const b = new ZoneSet([viaSchema(back)]);
      const rrsets = (s: ZoneSet): string[] =>
        s
          .nodesOf(s.zones[0]!)
          .flatMap((n) =>
            [...n.rrsets.values()].map(
              (set) => `${set.owner}/${set.type}/${set.ttl}/${JSON.stringify(set.rrs.map((r) => r.rdata))}`,
            ),
          );
      assert.deepEqual(rrsets(b).sort(), rrsets(a).sort());
    }
  });

  it('exports long TXT values as several 255-byte strings and escapes quotes', () => {
    const long = 'k'.repeat(600);
    const zone = viaSchema({
      name: 'txt.test',
      ttl: 60,
      soa: { mname: 'ns1', rname: 'hostmaster' },
      ns: ['ns1'],
      records: [
        { name: 'ns1', type: 'A', values: ['192.0.2.1'] },
        { name: 'long', type: 'TXT', values: [long, 'say "hi"\\'] },
      ],
    } as ZoneConfig);
    const text = exportMasterFile(zone);
    assert.match(text, /long\.txt\.test\. 60 IN TXT "k{255}" "k{255}" "k{90}"/);
    assert.match(text, /IN TXT "say \\"hi\\"\\\\"/);
    namedCheckzone('txt.test', text);
    assert.deepEqual(parseMasterFile(text, 'txt.test').records.find((r) => r.name === 'long')?.values, [
      long,
      'say "hi"\\',
    ]);
  });

  it('reads PTR records (reverse zones) with absolute targets', () => {
    const z = parseMasterFile(
      '$TTL 300\n@ SOA ns1.example.org. hostmaster.example.org. 1 2 3 4 5\n@ NS ns1.example.org.\n10 PTR host.example.org.\n',
      '2.0.192.in-addr.arpa',
    );
    assert.deepEqual(z.records, [{ name: '10', type: 'PTR', values: ['host.example.org.'] }]);
  });

  it('rejects what it does not support, naming the line, and returns nothing', () => {
    const head = '$TTL 300\n@ SOA ns1 hostmaster 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n';
    rejects(`${head}fp SSHFP 1 1 0123456789abcdef\n`, 5, /record type SSHFP is not supported/);
    rejects(`${head}$INCLUDE other.zone\n`, 5, /\$INCLUDE is not supported/);
    rejects(`${head}$GENERATE 1-10 h$ A 192.0.2.$\n`, 5, /\$GENERATE is not supported/);
    rejects(`${head}ch CH TXT "x"\n`, 5, /class CH is not supported/);
    rejects(`${head}out.example.com. A 192.0.2.1\n`, 5, /out\.example\.com is outside zone example\.org/);
    rejects(`${head}bad A 300.1.1.1\n`, 5, /A: expected an IPv4 address/);
    rejects(`${head}bad AAAA 192.0.2.1\n`, 5, /AAAA: expected an IPv6 address/);
    rejects(`${head}bad MX mail\n`, 5, /MX takes 2 fields/);
    rejects(`${head}bad MX 70000 mail\n`, 5, /MX preference/);
    rejects(`${head}bad SRV 1 2 x target\n`, 5, /SRV port/);
    rejects(`${head}bad CAA 0 "is sue" "x"\n`, 5, /CAA tag/);
    rejects(`${head}bad TXT "unterminated\n`, 5, /unterminated quoted string/);
    rejects(`${head}bad A ( 192.0.2.1\n`, 5, /unclosed "\("/);
    rejects(`${head}b\\.ad A 192.0.2.1\n`, 5, /escapes and quotes in names are not supported/);
    rejects(`${head}@ SOA ns1 hostmaster 1 2 3 4 5\n`, 5, /a second SOA/);
    rejects(`${head}sub SOA ns1 hostmaster 1 2 3 4 5\n`, 5, /SOA must be at the zone apex/);
    rejects('@ 300 NS ns1\n', 1, /no SOA record/);
    rejects('www A 192.0.2.1\n@ 300 SOA ns1 hostmaster 1 2 3 4 5\n', 1, /no TTL/);
    rejects('$TTL 300\n@ SOA ns1 hostmaster 1 2 3 4 5\nns1 A 192.0.2.1\n', 1, /no NS record at the apex/);
    rejects(`${head}$ORIGIN relative\n`, 5, /\$ORIGIN must be an absolute name/);
  });
});
