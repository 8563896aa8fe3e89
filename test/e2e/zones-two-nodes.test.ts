// Two `meridian serve` nodes over one real redis-server, DNS data managed from the CLI alone: both
// start from the same YAML (the first start seeds the zone store once, even when both start at the
// same time), a record added through node A's API is answered by node B — whose DNS tier runs in
// two node:cluster workers — within 1 s (dig), updates and removals follow, bad input exits 2
// naming the field with nothing changed, and a balanced name added from the CLI is steered on B.
import { strict as assert } from 'node:assert';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startRedis, type RedisHandle } from '../helpers/redis-server.js';
import { answerData, dig, type DigTarget } from '../helpers/dig.js';
import {
  runCli,
  startMeridian,
  tempDir,
  writeTestConfig,
  type CliResult,
  type MeridianProcess,
} from '../helpers/meridian-process.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'zones-two-nodes-token';

function dnsTarget(node: MeridianProcess): DigTarget {
  const m = /DNS udp on 127\.0\.0\.1:(\d+)/.exec(node.stdout());
  assert.ok(m?.[1] !== undefined, node.stdout());
  return { host: '127.0.0.1', port: Number(m[1]) };
}

async function soaSerial(target: DigTarget): Promise<number> {
  const r = await dig(target, ['example.test', 'SOA', '+norec']);
  return Number(answerData(r, 'SOA')[0]?.split(/\s+/)[2]);
}

describe('zones over two nodes on one redis', () => {
  const dir = tempDir('meridian-zones-pair-');
  let redis: RedisHandle;
  let a: MeridianProcess;
  let b: MeridianProcess;
  let dnsB: DigTarget;
  const cli = (...args: string[]): Promise<CliResult> =>
    runCli(['--api', a.apiUrl, '--token', TOKEN, ...args]);
  const expectCode = (r: CliResult, code: number, what: string): void =>
    assert.equal(r.code, code, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);

  before(async () => {
    redis = await startRedis();
    const env = { MERIDIAN_REDIS_URL: redis.url, MERIDIAN_API_TOKEN: TOKEN };
    const configA = writeTestConfig(
      dir,
      (doc) => {
        doc.dns.workers = 1;
        // No geo files: steering does not need them here, and four processes loading GeoLite2 City
        // on a shared 2-core machine would take most of the start-up timeout.
        delete doc.dns.geo;
      },
      'a.yaml',
    );
    const configB = writeTestConfig(
      dir,
      (doc) => {
        doc.dns.workers = 2;
        delete doc.dns.geo;
      },
      'b.yaml',
    );
    [a, b] = await Promise.all([startMeridian(configA, env), startMeridian(configB, env)]);
    dnsB = dnsTarget(b);
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the YAML seeded the store once; both nodes serve it', async () => {
    const list = await cli('zone', 'list', '--json');
    expectCode(list, 0, 'zone list');
    const zones = JSON.parse(list.stdout) as { name: string; serial: number }[];
    assert.deepEqual(
      zones.map((z) => z.name),
      ['example.test'],
    );
    assert.equal(await soaSerial(dnsB), zones[0]?.serial);
    assert.equal(await soaSerial(dnsTarget(a)), zones[0]?.serial);
  });

  it('a record added through node A is answered by node B within 1 s; update and remove follow', async () => {
    const before = await soaSerial(dnsB);
    expectCode(
      await cli('record', 'add', 'example.test', 'fresh', 'A', '192.0.2.77', '--ttl', '120'),
      0,
      'add',
    );
    // Timed from node A's answer to the CLI (the CLI's own start-up is not the propagation).
    const addedAt = Date.now();
    await waitFor(
      'node B answers the new record',
      async () => answerData(await dig(dnsB, ['fresh.example.test', 'A', '+norec']), 'A')[0] === '192.0.2.77',
      { timeoutMs: 1000 },
    );
    assert.ok(Date.now() - addedAt <= 1000, `took ${Date.now() - addedAt} ms`);
    const answered = await dig(dnsB, ['fresh.example.test', 'A', '+norec']);
    assert.equal(answered.answer[0]?.ttl, 120);
    assert.ok((await soaSerial(dnsB)) > before, 'the serial moved forward');

    expectCode(
      await cli('record', 'update', 'example.test', 'fresh', 'A', '192.0.2.78', '192.0.2.79'),
      0,
      'update',
    );
    await waitFor(
      'node B answers the updated set',
      async () =>
        answerData(await dig(dnsB, ['fresh.example.test', 'A', '+norec']), 'A').join(' ') ===
        '192.0.2.78 192.0.2.79',
      { timeoutMs: 1000 },
    );
    expectCode(await cli('record', 'remove', 'example.test', 'fresh', 'A'), 0, 'remove');
    await waitFor(
      'node B answers NXDOMAIN',
      async () => (await dig(dnsB, ['fresh.example.test', 'A', '+norec'])).status === 'NXDOMAIN',
      { timeoutMs: 1000 },
    );
  });

  it('bad input exits 2 naming the field, and nothing changes', async () => {
    const serial = await soaSerial(dnsB);
    const cases: [string[], RegExp][] = [
      [
        ['record', 'add', 'example.test', 'www.example.org.', 'A', '192.0.2.1'],
        /name: www\.example\.org is outside zone example\.test/,
      ],
      [
        ['record', 'add', 'example.test', 'mail', 'CNAME', 'elsewhere.example.net.'],
        /type: mail\.example\.test: a CNAME cannot coexist/,
      ],
      [
        ['record', 'add', 'example.test', '@', 'MX', '10 192.0.2.1'],
        /values\[0\]: an MX target must be a host name/,
      ],
      [
        ['record', 'add', 'example.test', '@', 'CAA', '0 issue "not a domain!"'],
        /values\[0\]: CAA value .* must be quoted|values\[0\]: CAA issue/,
      ],
      [
        ['record', 'add', 'example.test', 'big', 'TXT', 'x', '--ttl', '3000000000'],
        /ttl: a TTL is at most 2147483647/,
      ],
      [['record', 'add', 'example.test', 'mail', 'A', '203.0.113.25'], /values\[0\]: duplicate/],
      [
        ['zone', 'add', 'sub.example.test', '--ns', 'ns1.example.test.'],
        /name: sub\.example\.test overlaps zone example\.test/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await cli(...args);
      expectCode(r, 2, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
    }
    assert.equal(await soaSerial(dnsB), serial, 'no refused change moved the serial');
  });

  it('a balanced name added from the CLI is steered on node B', async () => {
    expectCode(
      await cli('region', 'add', 'eu-west', '--lat', '53.3', '--lon', '-6.3', '--ipv4', '198.51.100.7'),
      0,
      'region add',
    );
    expectCode(
      await cli(
        'name',
        'add',
        'example.test',
        'shop',
        '--policy',
        'failover',
        '--region',
        'eu-west',
        '--ttl',
        '20',
      ),
      0,
      'name add',
    );
    await waitFor(
      'node B steers the new name',
      async () =>
        answerData(await dig(dnsB, ['shop.example.test', 'A', '+norec']), 'A')[0] === '198.51.100.7',
      { timeoutMs: 2000 },
    );
    const shown = await cli('zone', 'show', 'example.test');
    expectCode(shown, 0, 'zone show');
    assert.match(shown.stdout, /shop\s+failover\s+eu-west\s+20/);
    expectCode(await cli('name', 'remove', 'example.test', 'shop'), 0, 'name remove');
    await waitFor(
      'node B forgets the name',
      async () => (await dig(dnsB, ['shop.example.test', 'A', '+norec'])).status === 'NXDOMAIN',
      { timeoutMs: 1000 },
    );
  });
});
