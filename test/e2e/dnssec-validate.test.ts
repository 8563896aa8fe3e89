// DNSSEC with real validators against a real `meridian serve` node (two node:cluster workers, each
// opening the zones' sealed keys with the key ring named by `secrets.keyFile`): BIND's delv with the
// zones' trust anchors fully validates positive, steered (two clients, two regions: `delv -b` from
// loopback sources the balanced name steers by CIDR), CNAME and wildcard answers, the DNSKEY RRset,
// NODATA and nonexistent names (compact denial), a reply too big for small UDP (over TCP), and a
// second zone signed with Ed25519; kdig +dnssec shows the RRSIGs of the steered answers for two ECS
// subnets; Debian's unbound, trusting the zone's KSK and using Meridian as a stub zone, returns AD for
// the steered answers of two client subnets (different regions); a second unbound behind a relay that
// flips a byte of every A RRSIG's signature returns SERVFAIL (and the data with +cd, so it is the
// signature that failed, not the path); a node without the key ring refuses to start.
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pickFreePort } from '../../src/dns/transport/server.js';
import { answerData, dig, type DigTarget } from '../helpers/dig.js';
import { kdig } from '../helpers/kdig.js';
import {
  runCli,
  startMeridian,
  tempDir,
  writeTestConfig,
  type MeridianProcess,
} from '../helpers/meridian-process.js';
import { startUnbound, type Unbound } from '../helpers/unbound.js';
import { waitFor } from '../helpers/wait.js';
import { testKey, testSigning, type TestKey, type TestSigning } from '../dns/dnssec/signed-zone.js';
import { DNSKEY_FLAGS_KSK, dnskeyRdata, dnskeyText } from '../../src/infra/dnssec/keys.js';

const ZONE = 'signed.test';
const TOKEN = 'dnssec-validate-token';
const EU = '192.0.2.10';
const US = '198.51.100.10';
/** Client subnets the balanced name `app` steers by override: one per region. */
const EU_SUBNET = '198.18.1.0/24';
const US_SUBNET = '198.18.2.0/24';
/** Loopback source addresses steered the same way, for delv (which sends no ECS): `delv -b`. */
const EU_SOURCE = '127.0.0.2';
const US_SOURCE = '127.0.0.3';
/** A second zone signed with Ed25519 (algorithm 15). */
const ED_ZONE = 'ed.test';
const OVERRIDES = {
  cidr: {
    [EU_SUBNET]: ['eu'],
    [US_SUBNET]: ['us'],
    [`${EU_SOURCE}/32`]: ['eu'],
    [`${US_SOURCE}/32`]: ['us'],
  },
};

function zoneConfig(signing: TestSigning): Record<string, unknown> {
  return {
    name: ZONE,
    ttl: 3600,
    soa: { mname: 'ns1', rname: 'hostmaster', serial: 1, ttl: 3600, minimum: 300 },
    ns: ['ns1'],
    records: [
      { name: 'ns1', type: 'A', values: ['127.0.0.1'] },
      { name: 'mail', type: 'A', values: ['192.0.2.25'] },
      { name: '@', type: 'MX', values: ['10 mail'] },
      { name: 'alias', type: 'CNAME', values: ['app'] },
      { name: '*.wild', type: 'TXT', values: ['synthesized'] },
      { name: 'host.ent', type: 'A', values: ['192.0.2.7'] },
      // Over 512 bytes once signed: truncated over small UDP, whole over TCP.
      {
        name: 'big',
        type: 'TXT',
        values: Array.from({ length: 6 }, (_, i) => `chunk-${i}-${'x'.repeat(90)}`),
      },
    ],
    balanced: [
      {
        name: 'app',
        ttl: 30,
        regions: ['eu', 'us'],
        overrides: OVERRIDES,
      },
    ],
    dnssec: { keys: [signing.ksk.stored, signing.zsk.stored] },
  };
}

function edZoneConfig(keys: readonly TestKey[]): Record<string, unknown> {
  return {
    name: ED_ZONE,
    soa: { mname: 'ns1', rname: 'hostmaster', serial: 1, minimum: 300 },
    ns: ['ns1'],
    records: [
      { name: 'ns1', type: 'A', values: ['127.0.0.1'] },
      { name: 'mail', type: 'A', values: ['192.0.2.26'] },
    ],
    balanced: [{ name: 'app', ttl: 30, regions: ['eu', 'us'], overrides: OVERRIDES }],
    dnssec: { keys: keys.map((k) => k.stored) },
  };
}

/** A `static-key` line of a trust-anchors block for a KSK in presentation form. */
function staticKey(trustAnchor: string): string {
  const [owner, , , flags, protocol, algorithm, key] = trustAnchor.split(' ');
  return `"${owner}" static-key ${flags} ${protocol} ${algorithm} "${key}";`;
}

/** `delv @127.0.0.1 -p PORT -a ANCHORS +root=ZONE name type`: its output (it exits non-zero on failures). */
function delv(port: number, anchors: string, args: readonly string[], root = ZONE): Promise<string> {
  const argv = ['@127.0.0.1', '-p', String(port), '-a', anchors, `+root=${root}`, ...args];
  return new Promise((resolve, reject) => {
    execFile('delv', argv, { timeout: 15_000 }, (err, stdout, stderr) => {
      if (err !== null && (err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error('delv not found: install bind9-dnsutils (tests need the real delv)'));
        return;
      }
      resolve(`${stdout}\n${stderr}`);
    });
  });
}

/** Offset just past a (possibly compressed) name. */
function skipName(msg: Buffer, p: number): number {
  for (;;) {
    const len = msg[p]!;
    if ((len & 0xc0) === 0xc0) return p + 2;
    if (len === 0) return p + 1;
    p += 1 + len;
  }
}

/** Flips the last signature byte of every RRSIG covering A records in a reply (in place); returns how many. */
function corruptARrsigs(msg: Buffer): number {
  if (msg.length < 12) return 0;
  let p = 12;
  for (let i = 0; i < msg.readUInt16BE(4); i++) p = skipName(msg, p) + 4;
  const records = msg.readUInt16BE(6) + msg.readUInt16BE(8) + msg.readUInt16BE(10);
  let corrupted = 0;
  for (let i = 0; i < records; i++) {
    p = skipName(msg, p);
    const type = msg.readUInt16BE(p);
    const rdlength = msg.readUInt16BE(p + 8);
    const rdata = p + 10;
    if (type === 46 && msg.readUInt16BE(rdata) === 1) {
      msg[rdata + rdlength - 1]! ^= 0x01;
      corrupted++;
    }
    p = rdata + rdlength;
  }
  return corrupted;
}

/** A UDP and TCP relay on one loopback port to Meridian that corrupts A signatures on the way back. */
class CorruptingRelay {
  corrupted = 0;
  private udp: Socket | undefined;
  private tcp: Server | undefined;

  constructor(
    readonly port: number,
    private readonly upstream: number,
  ) {}

  async start(): Promise<void> {
    const udp = createSocket('udp4');
    udp.on('message', (query: Buffer, from: RemoteInfo) => {
      const out = createSocket('udp4');
      const timer = setTimeout(() => out.close(), 5000);
      out.once('message', (reply: Buffer) => {
        clearTimeout(timer);
        this.corrupted += corruptARrsigs(reply);
        udp.send(reply, from.port, from.address);
        out.close();
      });
      out.send(query, this.upstream, '127.0.0.1');
    });
    await new Promise<void>((resolve) => udp.bind(this.port, '127.0.0.1', resolve));
    this.udp = udp;
    this.tcp = createServer((client) => {
      const server = createConnection(this.upstream, '127.0.0.1');
      client.pipe(server);
      let pending = Buffer.alloc(0);
      server.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
          const frame = pending.subarray(0, 2 + pending.readUInt16BE(0));
          pending = pending.subarray(frame.length);
          this.corrupted += corruptARrsigs(frame.subarray(2));
          client.write(frame);
        }
      });
      const end = (): void => {
        client.destroy();
        server.destroy();
      };
      client.on('error', end).on('close', end);
      server.on('error', end).on('close', end);
    });
    await new Promise<void>((resolve) => this.tcp!.listen(this.port, '127.0.0.1', resolve));
  }

  async close(): Promise<void> {
    this.udp?.close();
    await new Promise<void>((resolve) =>
      this.tcp === undefined ? resolve() : this.tcp.close(() => resolve()),
    );
  }
}

describe('DNSSEC validation by delv and unbound', () => {
  const dir = tempDir('meridian-dnssec-');
  const signing = testSigning(dir, ZONE);
  const edKeys = [testKey(signing.ring, ED_ZONE, 'ksk', 15), testKey(signing.ring, ED_ZONE, 'zsk', 15)];
  const anchors = join(dir, 'anchors.conf');
  let node: MeridianProcess | undefined;
  let dns: DigTarget;
  let resolver: Unbound | undefined;
  let corruptResolver: Unbound | undefined;
  let relay: CorruptingRelay | undefined;

  before(async () => {
    const edAnchor = dnskeyText(ED_ZONE, dnskeyRdata(DNSKEY_FLAGS_KSK, 15, edKeys[0]!.generated.publicKey));
    writeFileSync(
      anchors,
      `trust-anchors {\n  ${staticKey(signing.trustAnchor)}\n  ${staticKey(edAnchor)}\n};\n`,
    );
    const config = writeTestConfig(dir, (doc) => {
      doc.dns.workers = 2;
      delete doc.dns.geo;
      doc.dns.zones = [zoneConfig(signing), edZoneConfig(edKeys)];
      doc.secrets = { keyFile: signing.secrets.keyFile };
    });
    node = await startMeridian(config, { MERIDIAN_API_TOKEN: TOKEN });
    const m = /DNS udp on 127\.0\.0\.1:(\d+)/.exec(node.stdout());
    assert.ok(m?.[1] !== undefined, node.stdout());
    dns = { host: '127.0.0.1', port: Number(m[1]) };
    const cli = (...args: string[]) => runCli(['--api', node!.apiUrl, '--token', TOKEN, ...args]);
    for (const [id, ip, lat, lon] of [
      ['eu', EU, '50.1', '8.7'],
      ['us', US, '39.0', '-77.5'],
    ] as const) {
      const r = await cli('region', 'add', id, '--lat', lat, '--lon', lon, '--ipv4', ip);
      assert.equal(r.code, 0, `region add ${id}: ${r.stderr}`);
    }
    await waitFor('both regions steered', async () => {
      const eu = answerData(await dig(dns, ['+norec', `+subnet=${EU_SUBNET}`, `app.${ZONE}`, 'A']), 'A');
      const us = answerData(await dig(dns, ['+norec', `+subnet=${US_SUBNET}`, `app.${ZONE}`, 'A']), 'A');
      return eu[0] === EU && us[0] === US;
    });
    resolver = await startUnbound({ zone: ZONE, trustAnchor: signing.trustAnchor, stubPort: dns.port });
    relay = new CorruptingRelay(await pickFreePort('127.0.0.1'), dns.port);
    await relay.start();
    corruptResolver = await startUnbound({
      zone: ZONE,
      trustAnchor: signing.trustAnchor,
      stubPort: relay.port,
    });
  });
  after(async () => {
    await corruptResolver?.close();
    await resolver?.close();
    await relay?.close();
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('delv fully validates positive, steered, CNAME and wildcard answers and the DNSKEY RRset', async () => {
    const cases: [string, string, RegExp][] = [
      [`mail.${ZONE}`, 'A', /mail\.signed\.test\.\s+\d+\s+IN\s+A\s+192\.0\.2\.25/],
      [ZONE, 'MX', /IN\s+MX\s+10 mail\.signed\.test\./],
      // delv sends no ECS: the steered answer of an unlocated client (eu first).
      [
        `app.${ZONE}`,
        'A',
        new RegExp(`app\\.signed\\.test\\.\\s+30\\s+IN\\s+A\\s+${EU.replaceAll('.', '\\.')}`),
      ],
      [`alias.${ZONE}`, 'A', /alias\.signed\.test\.\s+\d+\s+IN\s+CNAME\s+app\.signed\.test\./],
      [`x.y.wild.${ZONE}`, 'TXT', /x\.y\.wild\.signed\.test\.\s+\d+\s+IN\s+TXT\s+"synthesized"/],
      [ZONE, 'DNSKEY', /IN\s+DNSKEY\s+257 3 13/],
      // Over TCP: delv asks with a 1232-byte buffer, this reply fits; +tcp takes the TCP path.
      [`big.${ZONE}`, 'TXT', /big\.signed\.test\.\s+\d+\s+IN\s+TXT\s+"chunk-0-/],
    ];
    for (const [name, type, record] of cases) {
      const out = await delv(dns.port, anchors, [name, type]);
      assert.match(out, /^; fully validated$/m, `${name} ${type}:\n${out}`);
      assert.match(out, record, `${name} ${type}:\n${out}`);
      assert.match(out, /IN\s+RRSIG\s+/, `${name} ${type}:\n${out}`);
    }
  });

  it('delv fully validates the steered answers of clients steered to different regions', async () => {
    for (const [source, address] of [
      [EU_SOURCE, EU],
      [US_SOURCE, US],
    ] as const) {
      const out = await delv(dns.port, anchors, ['-b', source, `app.${ZONE}`, 'A']);
      assert.match(out, /^; fully validated$/m, `${source}:\n${out}`);
      assert.match(
        out,
        new RegExp(`app\\.signed\\.test\\.\\s+30\\s+IN\\s+A\\s+${address.replaceAll('.', '\\.')}$`, 'm'),
        out,
      );
    }
  });

  it('delv fully validates a zone signed with Ed25519 (algorithm 15): static, steered, denied', async () => {
    const cases: [string[], RegExp, RegExp][] = [
      [[`mail.${ED_ZONE}`, 'A'], /^; fully validated$/m, /IN\s+RRSIG\s+A 15 3 /],
      [['-b', US_SOURCE, `app.${ED_ZONE}`, 'A'], /^; fully validated$/m, /IN\s+A\s+198\.51\.100\.10$/m],
      [
        [`nope.${ED_ZONE}`, 'A'],
        /^; negative response, fully validated$/m,
        /NSEC\s+\\000\.nope\.ed\.test\. RRSIG NSEC TYPE128/,
      ],
    ];
    for (const [args, validated, record] of cases) {
      const out = await delv(dns.port, anchors, args, ED_ZONE);
      assert.match(out, validated, `${args.join(' ')}:\n${out}`);
      assert.match(out, record, `${args.join(' ')}:\n${out}`);
    }
  });

  it('delv fully validates NODATA and nonexistent names (compact denial: NSEC with NXNAME)', async () => {
    const cases: [string, string, RegExp][] = [
      [`mail.${ZONE}`, 'AAAA', /NSEC\s+\\000\.mail\.signed\.test\. A RRSIG NSEC/],
      [`ent.${ZONE}`, 'A', /NSEC\s+\\000\.ent\.signed\.test\. RRSIG NSEC$/m],
      [`app.${ZONE}`, 'TXT', /NSEC\s+\\000\.app\.signed\.test\. A AAAA RRSIG NSEC/],
      [`nope.${ZONE}`, 'A', /NSEC\s+\\000\.nope\.signed\.test\. RRSIG NSEC TYPE128/],
      [`deeper.nope.${ZONE}`, 'MX', /NSEC\s+\\000\.deeper\.nope\.signed\.test\. RRSIG NSEC TYPE128/],
    ];
    for (const [name, type, nsec] of cases) {
      const out = await delv(dns.port, anchors, [name, type]);
      assert.match(out, /^; negative response, fully validated$/m, `${name} ${type}:\n${out}`);
      assert.match(out, nsec, `${name} ${type}:\n${out}`);
    }
  });

  it('truncates a signed reply that exceeds a small UDP buffer (TC=1) and serves it whole over TCP', async () => {
    const udp = await kdig(dns, [
      '+dnssec',
      '+norec',
      '+notcp',
      '+bufsize=512',
      '+ignore',
      `big.${ZONE}`,
      'TXT',
    ]);
    assert.match(udp.raw, /;; Flags: qr aa tc;/, udp.raw);
    assert.equal(udp.records.length, 0, udp.raw);
    const tcp = await kdig(dns, ['+dnssec', '+norec', '+tcp', `big.${ZONE}`, 'TXT']);
    assert.equal(tcp.records.filter((r) => r.type === 'TXT').length, 6, tcp.raw);
    assert.ok(
      tcp.records.some((r) => r.type === 'RRSIG' && r.data.startsWith('TXT 13 3 ')),
      tcp.raw,
    );
    const out = await delv(dns.port, anchors, ['+tcp', `big.${ZONE}`, 'TXT']);
    assert.match(out, /^; fully validated$/m, out);
  });

  it('kdig +dnssec shows the steered answers of two ECS subnets with their RRSIGs', async () => {
    for (const [subnet, address] of [
      [EU_SUBNET, EU],
      [US_SUBNET, US],
    ] as const) {
      const r = await kdig(dns, ['+dnssec', '+norec', `+subnet=${subnet}`, `app.${ZONE}`, 'A']);
      assert.equal(r.status, 'NOERROR', r.raw);
      assert.deepEqual(
        r.records.filter((x) => x.type === 'A').map((x) => x.data),
        [address],
        r.raw,
      );
      const rrsig = r.records.find((x) => x.type === 'RRSIG');
      assert.ok(rrsig !== undefined, r.raw);
      assert.match(rrsig.data, new RegExp(`^A 13 3 30 \\d{14} \\d{14} ${signing.zsk.tag} ${ZONE}\\. `));
    }
  });

  it('unbound (trust anchor, Meridian as stub) returns AD for the steered answers of two client subnets', async () => {
    const target = { host: '127.0.0.1', port: resolver!.port };
    for (const [subnet, address] of [
      [EU_SUBNET, EU],
      [US_SUBNET, US],
    ] as const) {
      const r = await dig(target, [`+subnet=${subnet}`, `app.${ZONE}`, 'A'], { timeoutSeconds: 5 });
      assert.equal(r.status, 'NOERROR', `${subnet}\n${r.raw}\n${resolver!.log()}`);
      assert.ok(r.flags.includes('ad'), `${subnet}: AD\n${r.raw}\n${resolver!.log()}`);
      assert.deepEqual(answerData(r, 'A'), [address], `${subnet}\n${r.raw}`);
    }
    // Denials validate too (a validating resolver sees NODATA for a compact NXDOMAIN).
    const nope = await dig(target, [`nope.${ZONE}`, 'A'], { timeoutSeconds: 5 });
    assert.equal(nope.status, 'NOERROR', nope.raw);
    assert.ok(nope.flags.includes('ad'), nope.raw);
  });

  it('unbound behind a relay that corrupts the A signatures returns SERVFAIL (the data only with +cd)', async () => {
    const target = { host: '127.0.0.1', port: corruptResolver!.port };
    const r = await dig(target, [`+subnet=${EU_SUBNET}`, `app.${ZONE}`, 'A'], { timeoutSeconds: 5 });
    assert.equal(r.status, 'SERVFAIL', `${r.raw}\n${corruptResolver!.log()}`);
    assert.ok(relay!.corrupted > 0, 'the relay saw and corrupted A signatures');
    const mail = await dig(target, [`mail.${ZONE}`, 'A'], { timeoutSeconds: 5 });
    assert.equal(mail.status, 'SERVFAIL', mail.raw);
    // Checking disabled: the same path delivers the records, so the failure is the signature's.
    const cd = await dig(target, ['+cd', `mail.${ZONE}`, 'A'], { timeoutSeconds: 5 });
    assert.equal(cd.status, 'NOERROR', cd.raw);
    assert.deepEqual(answerData(cd, 'A'), ['192.0.2.25']);
    // The DNSKEY RRset passes the relay untouched and still validates.
    const keys = await dig(target, [ZONE, 'DNSKEY'], { timeoutSeconds: 5 });
    assert.ok(keys.flags.includes('ad'), keys.raw);
  });

  it("refuses to start a node that cannot open a signed zone's keys, naming the zone and key", async () => {
    const other = tempDir('meridian-dnssec-nokey-');
    try {
      const config = writeTestConfig(other, (doc) => {
        doc.dns.workers = 1;
        delete doc.dns.geo;
        doc.dns.zones = [zoneConfig(signing)];
      });
      await assert.rejects(
        startMeridian(config, { MERIDIAN_API_TOKEN: TOKEN }),
        new RegExp(`zone ${ZONE}, ksk ${signing.ksk.tag}: .*no key ring`),
      );
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
