// `meridian zone import|export` against one real `meridian serve` node (embedded store): a master
// file becomes a zone answered by dig at once, the export passes BIND's named-checkzone and reads
// back to the same records, `--replace` swaps the static records in one change (serial forward,
// balanced names kept), a zone's transfer settings change in place (PATCH), and a bad file exits 2
// naming its line with nothing changed.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { answerData, dig, type DigTarget } from '../helpers/dig.js';
import {
  runCli,
  startMeridian,
  tempDir,
  writeTestConfig,
  type CliResult,
  type MeridianProcess,
} from '../helpers/meridian-process.js';

const TOKEN = 'zone-import-token';

const ZONE_FILE = `$ORIGIN import.test.
$TTL 300
@       3600 IN SOA ns1 hostmaster 2024010101 7200 900 1209600 120
        IN NS ns1
        IN NS ns2.example.net.
ns1     IN A 192.0.2.53
www     IN A 192.0.2.80
        IN A 192.0.2.81
mail    600 IN AAAA 2001:db8::25
@       IN MX 10 mail
@       IN TXT "v=spf1 -all"
_sip._tcp IN SRV 10 5 5060 sip.example.net.
@       IN CAA 0 issue "letsencrypt.org"
alias   IN CNAME www
`;

describe('zone import and export', () => {
  const dir = tempDir('meridian-zone-import-');
  let node: MeridianProcess;
  let dns: DigTarget;
  const cli = (...args: string[]): Promise<CliResult> =>
    runCli(['--api', node.apiUrl, '--token', TOKEN, ...args]);
  const expectCode = (r: CliResult, code: number, what: string): void =>
    assert.equal(r.code, code, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const serial = async (): Promise<number> =>
    Number(answerData(await dig(dns, ['import.test', 'SOA', '+norec']), 'SOA')[0]?.split(/\s+/)[2]);

  before(async () => {
    const config = writeTestConfig(dir, (doc) => {
      doc.dns.workers = 1;
      delete doc.dns.geo;
    });
    node = await startMeridian(config, { MERIDIAN_API_TOKEN: TOKEN });
    const m = /DNS udp on 127\.0\.0\.1:(\d+)/.exec(node.stdout());
    assert.ok(m?.[1] !== undefined, node.stdout());
    dns = { host: '127.0.0.1', port: Number(m[1]) };
  });

  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('imports a master file; every record is answered at once', async () => {
    const file = join(dir, 'import.test.zone');
    writeFileSync(file, ZONE_FILE);
    expectCode(await cli('zone', 'import', 'import.test', file), 0, 'zone import');
    assert.deepEqual(answerData(await dig(dns, ['www.import.test', 'A', '+norec']), 'A').sort(), [
      '192.0.2.80',
      '192.0.2.81',
    ]);
    assert.deepEqual(answerData(await dig(dns, ['mail.import.test', 'AAAA', '+norec']), 'AAAA'), [
      '2001:db8::25',
    ]);
    assert.deepEqual(answerData(await dig(dns, ['import.test', 'MX', '+norec']), 'MX'), [
      '10 mail.import.test.',
    ]);
    assert.deepEqual(answerData(await dig(dns, ['_sip._tcp.import.test', 'SRV', '+norec']), 'SRV'), [
      '10 5 5060 sip.example.net.',
    ]);
    assert.deepEqual(answerData(await dig(dns, ['import.test', 'CAA', '+norec']), 'CAA'), [
      '0 issue "letsencrypt.org"',
    ]);
    assert.ok((await serial()) >= 2024010101, 'the file serial (or a later one) is served');
    const again = await cli('zone', 'import', 'import.test', file);
    expectCode(again, 1, 'importing an existing zone without --replace');
    assert.match(again.stderr, /exists|conflict/i);
  });

  it('exports a file BIND accepts, holding the same records', async () => {
    const out = join(dir, 'exported.zone');
    expectCode(await cli('zone', 'export', 'import.test', '--out', out), 0, 'zone export');
    const check = execFileSync('named-checkzone', ['import.test', out], { encoding: 'utf8' });
    assert.match(check, /OK/);
    const text = readFileSync(out, 'utf8');
    for (const rr of [
      /^www\.import\.test\. 300 IN A 192\.0\.2\.80$/m,
      /^mail\.import\.test\. 600 IN AAAA 2001:db8::25$/m,
      /^alias\.import\.test\. 300 IN CNAME www\.import\.test\.$/m,
      /^import\.test\. 300 IN TXT "v=spf1 -all"$/m,
    ])
      assert.match(text, rr);
    const stdout = await cli('zone', 'export', 'import.test');
    expectCode(stdout, 0, 'zone export to stdout');
    assert.equal(stdout.stdout, text);
  });

  it('--replace swaps the static records in one change and keeps balanced names', async () => {
    expectCode(await cli('name', 'add', 'import.test', 'app', '--ttl', '30'), 0, 'name add');
    const before = await serial();
    const file = join(dir, 'replace.zone');
    writeFileSync(
      file,
      ZONE_FILE.replace(
        'www     IN A 192.0.2.80\n        IN A 192.0.2.81\n',
        'www     IN A 192.0.2.90\n',
      ).replace('alias   IN CNAME www\n', ''),
    );
    expectCode(await cli('zone', 'import', 'import.test', file, '--replace'), 0, 'zone import --replace');
    assert.deepEqual(answerData(await dig(dns, ['www.import.test', 'A', '+norec']), 'A'), ['192.0.2.90']);
    const gone = await dig(dns, ['alias.import.test', 'CNAME', '+norec']);
    assert.equal(gone.status, 'NXDOMAIN');
    assert.ok((await serial()) > before, 'the serial moved forward');
    const show = await cli('zone', 'show', 'import.test', '--json');
    const zone = JSON.parse(show.stdout) as { balanced: { name: string }[] };
    assert.deepEqual(
      zone.balanced.map((b) => b.name),
      ['app'],
    );
  });

  it('transfer settings are patched in place: AXFR refused, then allowed', async () => {
    const axfr = (): string =>
      execFileSync(
        'dig',
        ['-p', String(dns.port), '@127.0.0.1', 'import.test', 'AXFR', '+time=2', '+tries=1'],
        {
          encoding: 'utf8',
        },
      );
    assert.match(axfr(), /Transfer failed/);
    const res = await fetch(`${node.apiUrl}/v1/zones/import.test`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ transfer: { allow: ['127.0.0.1/32'] } }),
    });
    assert.equal(res.status, 200, await res.text());
    const out = axfr();
    assert.equal(out.match(/\tIN\tSOA\t/g)?.length, 2, out);
    assert.match(out, /www\.import\.test\.\s+\d+\s+IN\s+A\s+192\.0\.2\.90/);
  });

  it('a bad file exits 2 naming the line, and nothing changes', async () => {
    const before = await serial();
    const file = join(dir, 'bad.zone');
    writeFileSync(
      file,
      ZONE_FILE.replace('mail    600 IN AAAA 2001:db8::25', 'mail    600 IN AAAA 192.0.2.25'),
    );
    const r = await cli('zone', 'import', 'import.test', file, '--replace');
    expectCode(r, 2, 'bad file');
    assert.match(r.stderr, /line 9/);
    assert.match(r.stderr, /AAAA/);
    assert.equal(await serial(), before);
    const missing = await cli('zone', 'import', 'import.test', join(dir, 'nope.zone'));
    expectCode(missing, 2, 'missing file');
    assert.match(missing.stderr, /ENOENT/);
  });
});
