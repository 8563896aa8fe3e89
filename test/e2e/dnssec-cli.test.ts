// `meridian dnssec` against one real `meridian serve` node (embedded store, an encryption key file):
// enable → ds (equal to BIND's dnssec-dsfromkey of the printed DNSKEY) → rollover (the timeline, a
// second one refused) → status → disable (refused with the steps, then done with --ds-removed),
// checking exit codes and output; `zone show --json` and `zone export` carry no private key
// material, and the zone keeps answering DNS queries throughout.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
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

const TOKEN = 'dnssec-cli-token';

describe('meridian dnssec', () => {
  const dir = tempDir('meridian-dnssec-cli-');
  let node: MeridianProcess;
  let dns: DigTarget;
  const cli = (...args: string[]): Promise<CliResult> =>
    runCli(['--api', node.apiUrl, '--token', TOKEN, ...args]);
  const expectCode = (r: CliResult, code: number, what: string): void =>
    assert.equal(r.code, code, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const noPrivate = (text: string, where: string): void => {
    assert.ok(!text.includes('enc:v1:'), `${where} prints a sealed value`);
    assert.ok(!/privateKey/i.test(text), `${where} prints a privateKey field`);
  };
  const serial = async (): Promise<number> =>
    Number(answerData(await dig(dns, ['dnssec.test', 'SOA', '+norec']), 'SOA')[0]?.split(/\s+/)[2]);

  before(async () => {
    writeFileSync(join(dir, 'keys'), `k1:${Buffer.alloc(32, 7).toString('base64')}\n`, { mode: 0o600 });
    const config = writeTestConfig(dir, (doc) => {
      doc.dns.workers = 1;
      delete doc.dns.geo;
      doc.secrets = { keyFile: join(dir, 'keys') };
    });
    node = await startMeridian(config, { MERIDIAN_API_TOKEN: TOKEN });
    const m = /DNS udp on 127\.0\.0\.1:(\d+)/.exec(node.stdout());
    assert.ok(m?.[1] !== undefined, node.stdout());
    dns = { host: '127.0.0.1', port: Number(m[1]) };
    expectCode(
      await cli('zone', 'add', 'dnssec.test', '--ns', 'ns1.dnssec.test.', '--ns', 'ns2.example.net.'),
      0,
      'zone add',
    );
    expectCode(await cli('record', 'add', 'dnssec.test', 'ns1', 'A', '192.0.2.53'), 0, 'record add');
    expectCode(
      await cli('record', 'add', 'dnssec.test', 'www', 'A', '192.0.2.80', '--ttl', '300'),
      0,
      'record add',
    );
  });

  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('status and ds of an unsigned zone', async () => {
    const status = await cli('dnssec', 'status', 'dnssec.test');
    expectCode(status, 0, 'dnssec status');
    assert.match(status.stdout, /zone dnssec\.test is not signed/);
    const ds = await cli('dnssec', 'ds', 'dnssec.test');
    expectCode(ds, 2, 'dnssec ds of an unsigned zone');
    assert.match(ds.stderr, /not signed: run `meridian dnssec enable dnssec\.test`/);
    expectCode(await cli('dnssec', 'enable', 'dnssec.test', '--algorithm', '8'), 2, 'a bad algorithm');
  });

  it('enable prints the DS for the parent; a second enable is refused', async () => {
    const before = await serial();
    const enabled = await cli('dnssec', 'enable', 'dnssec.test');
    expectCode(enabled, 0, 'dnssec enable');
    assert.match(enabled.stdout, /zone dnssec\.test is signed \(KSK \d+, ZSK \d+\)/);
    assert.match(enabled.stdout, /^ {2}dnssec\.test\. IN DS \d+ 13 2 [0-9A-F]{64}$/m);
    assert.match(enabled.stdout, /give it to the parent \(registrar\) after \d{4}-/);
    noPrivate(enabled.stdout, 'dnssec enable');
    assert.ok((await serial()) > before, 'enabling is a zone change: the served serial moved forward');
    const again = await cli('dnssec', 'enable', 'dnssec.test');
    expectCode(again, 2, 'a second enable');
    assert.match(again.stderr, /already signed/);
  });

  it('ds prints the DS line equal to dnssec-dsfromkey; --dnskey adds the DNSKEY; --json', async () => {
    const ds = await cli('dnssec', 'ds', 'dnssec.test');
    expectCode(ds, 0, 'dnssec ds');
    const lines = ds.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const withKey = await cli('dnssec', 'ds', 'dnssec.test', '--dnskey');
    expectCode(withKey, 0, 'dnssec ds --dnskey');
    const dnskey = withKey.stdout.trim().split('\n')[1] ?? '';
    assert.match(dnskey, /^dnssec\.test\. 3600 IN DNSKEY 257 3 13 /);
    const file = join(dir, 'ksk.zone');
    writeFileSync(file, `${dnskey}\n`);
    const bind = execFileSync('dnssec-dsfromkey', ['-2', '-f', file, 'dnssec.test'], { encoding: 'utf8' });
    const normal = (line: string): string => line.trim().split(/\s+/).join(' ');
    assert.equal(normal(lines[0] ?? ''), normal(bind));
    const json = await cli('dnssec', 'ds', 'dnssec.test', '--json');
    expectCode(json, 0, 'dnssec ds --json');
    assert.deepEqual((JSON.parse(json.stdout) as { ds: string[] }).ds, lines);
  });

  it('zone show --json and zone export print no private key material', async () => {
    const show = await cli('zone', 'show', 'dnssec.test', '--json');
    expectCode(show, 0, 'zone show --json');
    noPrivate(show.stdout, 'zone show --json');
    const zone = JSON.parse(show.stdout) as { dnssec: { keys: { role: string }[] } };
    assert.deepEqual(
      zone.dnssec.keys.map((k) => k.role),
      ['ksk', 'zsk'],
    );
    const text = await cli('zone', 'show', 'dnssec.test');
    expectCode(text, 0, 'zone show');
    noPrivate(text.stdout, 'zone show');
    const exported = await cli('zone', 'export', 'dnssec.test');
    expectCode(exported, 0, 'zone export');
    noPrivate(exported.stdout, 'zone export');
    assert.match(exported.stdout, /^www\.dnssec\.test\. 300 IN A 192\.0\.2\.80$/m);
  });

  it('rollover prints the timeline; a second one and --ksk are refused', async () => {
    const rolled = await cli('dnssec', 'rollover', 'dnssec.test');
    expectCode(rolled, 0, 'dnssec rollover');
    const m = /new ZSK (\d+) replaces ZSK (\d+) \(pre-publish\)/.exec(rolled.stdout);
    assert.ok(m !== null, rolled.stdout);
    const [, newTag, oldTag] = m;
    assert.match(rolled.stdout, new RegExp(`ZSK ${newTag} enters the DNSKEY RRset`));
    assert.match(
      rolled.stdout,
      new RegExp(
        `ZSK ${newTag} starts signing and ZSK ${oldTag} stops \\(after DNSKEY ttl 3600 s \\+ propagation 300 s`,
      ),
    );
    assert.match(
      rolled.stdout,
      new RegExp(`ZSK ${oldTag} leaves the DNSKEY RRset \\(after the largest signed TTL 3600 s`),
    );
    const again = await cli('dnssec', 'rollover', 'dnssec.test');
    expectCode(again, 2, 'a second rollover');
    assert.match(again.stderr, /still under way/);
    const ksk = await cli('dnssec', 'rollover', 'dnssec.test', '--ksk');
    expectCode(ksk, 2, 'rollover --ksk');
    assert.match(ksk.stderr, /KSK rollover is not supported yet/);

    const status = await cli('dnssec', 'status', 'dnssec.test');
    expectCode(status, 0, 'dnssec status');
    noPrivate(status.stdout, 'dnssec status');
    assert.match(status.stdout, /signing now: KSK \d+, ZSK (\d+)/);
    assert.match(status.stdout, new RegExp(`^ZSK\\s+${oldTag}\\s+13\\s+active\\s`, 'm'));
    assert.match(status.stdout, new RegExp(`^ZSK\\s+${newTag}\\s+13\\s+published\\s`, 'm'));
    assert.match(status.stdout, new RegExp(`ZSK ${newTag} starts signing`));
    assert.match(status.stdout, new RegExp(`ZSK ${oldTag} leaves the DNSKEY RRset`));
    const json = await cli('dnssec', 'status', 'dnssec.test', '--json');
    expectCode(json, 0, 'dnssec status --json');
    const parsed = JSON.parse(json.stdout) as { keys: unknown[]; changeUnderway: boolean };
    assert.equal(parsed.keys.length, 3);
    assert.equal(parsed.changeUnderway, true);
  });

  it('disable refuses without --ds-removed, printing the steps; with it the zone is unsigned', async () => {
    const refused = await cli('dnssec', 'disable', 'dnssec.test');
    expectCode(refused, 2, 'disable without --ds-removed');
    assert.match(refused.stderr, /1\. remove the zone's DS record\(s\) at the parent/);
    assert.match(refused.stderr, /2\. wait until the parent's DS TTL/);
    assert.match(
      refused.stderr,
      /3\. then stop signing: `meridian dnssec disable dnssec\.test --ds-removed`/,
    );
    assert.match((await cli('dnssec', 'status', 'dnssec.test')).stdout, /signing now/, 'still signed');
    const done = await cli('dnssec', 'disable', 'dnssec.test', '--ds-removed');
    expectCode(done, 0, 'disable --ds-removed');
    assert.match(done.stdout, /no longer signed/);
    assert.match((await cli('dnssec', 'status', 'dnssec.test')).stdout, /is not signed/);
    expectCode(
      await cli('dnssec', 'disable', 'dnssec.test', '--ds-removed'),
      2,
      'disabling an unsigned zone',
    );
    assert.deepEqual(answerData(await dig(dns, ['www.dnssec.test', 'A', '+norec']), 'A'), ['192.0.2.80']);
  });
});
