// `meridian serve` plus the `meridian` CLI as an operator uses them: real processes, real sockets.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { rmSync } from 'node:fs';
import { formatExplain, formatTable } from '../../src/cli/format.js';
import type { Backend, Region } from '../../src/core/types.js';
import {
  runCli,
  startMeridian,
  tempDir,
  writeTestConfig,
  type CliResult,
  type MeridianProcess,
} from '../helpers/meridian-process.js';

const TOKEN = 'e2e-token-abcdefgh';

function expectCode(r: CliResult, code: number, what: string): void {
  assert.equal(r.code, code, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

/** The element with this id; fails the test when there is none. */
function byId<T extends { id: string }>(list: readonly T[], id: string): T {
  const found = list.find((x) => x.id === id);
  assert.ok(found, `${id} not in ${JSON.stringify(list.map((x) => x.id))}`);
  return found;
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

void describe('formatTable', () => {
  void it('aligns columns with two spaces and no trailing blanks', () => {
    const text = formatTable(
      ['ID', 'N'],
      [
        ['a', '1'],
        ['long-id', '12'],
      ],
      ['left', 'right'],
    );
    assert.equal(text, 'ID        N\na         1\nlong-id  12\n');
  });
});

void describe('formatExplain', () => {
  void it('shows the location, every region considered and the answer', () => {
    const text = formatExplain({
      query: { name: 'www.example.test', client: '192.0.2.1', ecs: '198.51.100.0/24', type: 'A' },
      outcome: 'addresses',
      regions: ['eu-west'],
      addresses: ['192.0.2.10'],
      ttl: 30,
      scopePrefix: 24,
      allDown: false,
      rule: 'nearest',
      location: {
        ip: '198.51.100.0',
        source: 'ecs',
        found: true,
        country: 'DE',
        continent: 'EU',
        lat: 50.1,
        lon: 8.7,
        network: '198.51.100.0/24',
        prefixLength: 24,
      },
      considered: [
        {
          regionId: 'eu-west',
          state: 'active',
          weight: 100,
          health: { status: 'healthy', up: true },
          distanceKm: 12.4,
          kept: true,
          reason: 'nearest (12 km)',
        },
        {
          regionId: 'us-east',
          state: 'draining',
          weight: 100,
          health: { status: 'expired', up: false },
          distanceKm: 6400,
          kept: false,
          reason: 'draining',
        },
      ],
    });
    assert.match(text, /^query:\s+www\.example\.test A\s+client 192\.0\.2\.1\s+ecs 198\.51\.100\.0\/24$/m);
    assert.match(
      text,
      /^location:\s+198\.51\.100\.0 \(ecs\)\s+country DE\s+continent EU\s+coordinates 50\.1, 8\.7\s+network 198\.51\.100\.0\/24$/m,
    );
    assert.match(text, /^REGION\s+DISTANCE\s+STATE\s+HEALTH\s+WEIGHT\s+VERDICT\s+REASON$/m);
    assert.match(text, /^eu-west\s+12 km\s+active\s+healthy\s+100\s+kept\s+nearest \(12 km\)$/m);
    assert.match(text, /^us-east\s+6400 km\s+draining\s+expired \(down\)\s+100\s+dropped\s+draining$/m);
    assert.match(text, /^answer:\s+192\.0\.2\.10$/m);
    assert.match(text, /^ecs scope: \/24$/m);
  });
});

void describe('meridian CLI against meridian serve', () => {
  const dir = tempDir('meridian-cli-');
  const configPath = writeTestConfig(dir);
  let server: MeridianProcess;
  let env: NodeJS.ProcessEnv;
  const cli = (...args: string[]) => runCli(args, env);
  const regionsJson = async (): Promise<Region[]> => {
    const r = await cli('region', 'list', '--json');
    expectCode(r, 0, 'region list --json');
    return JSON.parse(r.stdout) as Region[];
  };

  before(async () => {
    server = await startMeridian(configPath, { MERIDIAN_API_TOKEN: TOKEN });
    env = { MERIDIAN_API_URL: server.apiUrl, MERIDIAN_API_TOKEN: TOKEN };
  });

  after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  void it('adds three regions', async () => {
    const adds = [
      [
        'eu-west',
        '--lat',
        '50.11',
        '--lon',
        '8.68',
        '--ipv4',
        '192.0.2.10,192.0.2.11',
        '--country',
        'de',
        '--continent',
        'EU',
        '--label',
        'tier=gold',
        '--label',
        'cloud=x',
      ],
      [
        'us-east',
        '--lat',
        '39.0',
        '--lon',
        '-77.5',
        '--ipv4',
        '198.51.100.10',
        '--ipv6',
        '2001:db8:1::10',
        '--name',
        'US East',
      ],
      [
        'ap-south',
        '--lat',
        '19.07',
        '--lon',
        '72.88',
        '--ipv6',
        '2001:db8:2::10',
        '--weight',
        '50',
        '--capacity',
        '100',
        '--require-health',
      ],
    ];
    for (const args of adds) {
      const r = await cli('region', 'add', ...args);
      expectCode(r, 0, `region add ${args[0]}`);
      assert.match(r.stdout, new RegExp(`region ${args[0]} added`));
    }
    const regions = await regionsJson();
    assert.deepEqual(
      regions.map((r) => r.id),
      ['ap-south', 'eu-west', 'us-east'],
    );
    const eu = byId(regions, 'eu-west');
    assert.equal(eu.country, 'DE');
    assert.equal(eu.continent, 'EU');
    assert.deepEqual(eu.ipv4, ['192.0.2.10', '192.0.2.11']);
    assert.deepEqual(eu.labels, { tier: 'gold', cloud: 'x' });
    const ap = byId(regions, 'ap-south');
    assert.equal(ap.weight, 50);
    assert.equal(ap.capacity, 100);
    assert.equal(ap.requireHealth, true);
    assert.equal(byId(regions, 'us-east').name, 'US East');
  });

  void it('lists regions as an aligned table', async () => {
    const r = await cli('region', 'list');
    expectCode(r, 0, 'region list');
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 4);
    assert.match(lines[0]!, /^ID\s+NAME\s+STATE\s+LAT\s+LON\s+WEIGHT\s+CAPACITY\s+IPV4\s+IPV6\s+LABELS$/);
    const stateCol = lines[0]!.indexOf('STATE');
    for (const line of lines.slice(1)) assert.equal(line.slice(stateCol, stateCol + 6), 'active', line);
  });

  void it('shows one region, human and JSON', async () => {
    const human = await cli('region', 'show', 'eu-west');
    expectCode(human, 0, 'region show');
    assert.match(human.stdout, /^id:\s+eu-west$/m);
    assert.match(human.stdout, /^health:\s+unmonitored/m);
    assert.match(human.stdout, /^location:\s+50\.11, 8\.68$/m);
    const json = await cli('region', 'show', 'eu-west', '--json');
    expectCode(json, 0, 'region show --json');
    const detail = JSON.parse(json.stdout);
    assert.equal(detail.region.id, 'eu-west');
    assert.equal(detail.health.status, 'unmonitored');
    const missing = await cli('region', 'show', 'nope');
    expectCode(missing, 1, 'region show nope');
    assert.match(missing.stderr, /region "nope" not found/);
  });

  void it('updates a region; --capacity none clears the capacity', async () => {
    expectCode(
      await cli(
        'region',
        'update',
        'ap-south',
        '--weight',
        '5',
        '--label',
        'env=prod',
        '--no-require-health',
      ),
      0,
      'update',
    );
    let ap = byId(await regionsJson(), 'ap-south');
    assert.equal(ap.weight, 5);
    assert.equal(ap.capacity, 100);
    assert.equal(ap.requireHealth, false);
    assert.deepEqual(ap.labels, { env: 'prod' });
    expectCode(await cli('region', 'update', 'ap-south', '--capacity', 'none'), 0, 'update --capacity none');
    ap = byId(await regionsJson(), 'ap-south');
    assert.equal(ap.capacity, undefined);
    const nothing = await cli('region', 'update', 'ap-south');
    expectCode(nothing, 2, 'update without flags');
    assert.match(nothing.stderr, /nothing to update/);
  });

  void it('drains and undrains a region', async () => {
    const d = await cli('region', 'drain', 'us-east');
    expectCode(d, 0, 'drain');
    assert.match(d.stdout, /region us-east is draining/);
    assert.equal(byId(await regionsJson(), 'us-east').state, 'draining');
    expectCode(await cli('region', 'undrain', 'us-east'), 0, 'undrain');
    assert.equal(byId(await regionsJson(), 'us-east').state, 'active');
    expectCode(await cli('region', 'drain', 'us-east'), 0, 'drain again');
  });

  void it('manages backends: add, list, drain, remove', async () => {
    const a = await cli('backend', 'add', 'eu-west', 'http://127.0.0.1:9001');
    expectCode(a, 0, 'backend add');
    assert.match(a.stdout, /backend 127-0-0-1-9001 added to region eu-west/);
    expectCode(
      await cli('backend', 'add', 'eu-west', 'https://b2.example.test', '--id', 'b2', '--weight', '3'),
      0,
      'backend add b2',
    );

    const list = await cli('backend', 'list', 'eu-west', '--json');
    expectCode(list, 0, 'backend list --json');
    const backends = JSON.parse(list.stdout) as Backend[];
    assert.deepEqual(
      backends.map((b) => [b.id, b.weight, b.state]),
      [
        ['127-0-0-1-9001', 100, 'active'],
        ['b2', 3, 'active'],
      ],
    );
    const human = await cli('backend', 'list', 'eu-west');
    assert.match(human.stdout, /^ID\s+URL\s+WEIGHT\s+STATE$/m);
    assert.match(human.stdout, /^b2\s+https:\/\/b2\.example\.test\s+3\s+active$/m);

    expectCode(await cli('backend', 'drain', 'eu-west', 'b2'), 0, 'backend drain');
    const drained = JSON.parse((await cli('backend', 'list', 'eu-west', '--json')).stdout) as Backend[];
    assert.equal(byId(drained, 'b2').state, 'draining');
    expectCode(await cli('backend', 'undrain', 'eu-west', 'b2'), 0, 'backend undrain');
    expectCode(await cli('backend', 'remove', 'eu-west', 'b2'), 0, 'backend remove');
    const left = JSON.parse((await cli('backend', 'list', 'eu-west', '--json')).stdout) as Backend[];
    assert.deepEqual(
      left.map((b) => b.id),
      ['127-0-0-1-9001'],
    );
    expectCode(await cli('backend', 'remove', 'eu-west', 'b2'), 1, 'backend remove twice');
  });

  void it('prints the status of every region', async () => {
    const human = await cli('status');
    expectCode(human, 0, 'status');
    assert.match(
      human.stdout,
      /^REGION\s+STATE\s+HEALTH\s+BACKENDS\s+IN-FLIGHT\s+CAPACITY\s+WEIGHT\s+VOTES\s+NEXT$/m,
    );
    assert.match(human.stdout, /^us-east\s+draining\s+unmonitored\s+\?\/0\s+0/m);
    assert.match(human.stdout, /^eu-west\s+active\s+unmonitored\s+\?\/1\s+0/m);
    const json = JSON.parse((await cli('status', '--json')).stdout);
    assert.equal(json.regions.length, 3);
    assert.equal(json.store.kind, 'memory');
  });

  void it('rejects bad input with exit 2 naming the flag, sending nothing', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['region', 'add', 'bad-1', '--lat', '91', '--lon', '0', '--ipv4', '192.0.2.1'],
        /--lat: expected a number in \[-90, 90\], got "91"/,
      ],
      [
        ['region', 'add', 'bad-2', '--lat', '1x', '--lon', '0', '--ipv4', '192.0.2.1'],
        /--lat: expected a number/,
      ],
      [
        ['region', 'add', 'bad-3', '--lat', '0', '--lon', '181', '--ipv4', '192.0.2.1'],
        /--lon: expected a number in \[-180, 180\]/,
      ],
      [
        ['region', 'add', 'bad-4', '--lat', '0', '--lon', '0', '--ipv4', '2001:db8::1'],
        /--ipv4: expected an IPv4 address, got "2001:db8::1"/,
      ],
      [
        ['region', 'add', 'bad-5', '--lat', '0', '--lon', '0', '--ipv6', '192.0.2.1'],
        /--ipv6: expected an IPv6 address/,
      ],
      [
        ['region', 'add', 'bad-6', '--lat', '0', '--lon', '0'],
        /--ipv4\/--ipv6: a region needs at least one address/,
      ],
      [['region', 'add', 'bad-7', '--lon', '0', '--ipv4', '192.0.2.1'], /--lat: required/],
      [
        ['region', 'add', 'bad-8', '--lat', '0', '--lon', '0', '--ipv4', '192.0.2.1', '--weight', '2.5'],
        /--weight: expected an integer >= 0/,
      ],
      [
        ['region', 'add', 'bad-9', '--lat', '0', '--lon', '0', '--ipv4', '192.0.2.1', '--country', 'Germany'],
        /--country: expected an ISO 3166-1/,
      ],
      [
        ['region', 'add', 'bad-10', '--lat', '0', '--lon', '0', '--ipv4', '192.0.2.1', '--label', 'novalue'],
        /--label: expected key=value/,
      ],
      [
        ['region', 'add', 'Bad_Id', '--lat', '0', '--lon', '0', '--ipv4', '192.0.2.1'],
        /ID: expected 1-63 characters/,
      ],
      [['region', 'update', 'eu-west', '--lat', '-91'], /--lat: expected a number in \[-90, 90\]/],
      [
        ['backend', 'add', 'eu-west', 'ftp://files.example.test'],
        /URL: expected an http or https URL, got scheme ftp/,
      ],
      [
        ['backend', 'add', 'eu-west', 'http://x.test', '--weight', '-1'],
        /--weight: expected an integer >= 0/,
      ],
      [['backend', 'add', 'eu-west', 'http://x.test', '--id', 'UPPER'], /--id: expected 1-63 characters/],
      [['explain', 'www.example.test'], /--client: required/],
      [['explain', 'www.example.test', '--client', 'nope'], /--client: expected an IPv4 or IPv6 address/],
      [
        ['explain', 'www.example.test', '--client', '192.0.2.1', '--ecs', '198.51.100.7/24'],
        /--ecs: expected a CIDR/,
      ],
      [['explain', 'www.example.test', '--client', '192.0.2.1', '--type', 'MX'], /--type/],
      [['region', 'list', '--bogus'], /unknown option '--bogus'/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['region', 'add'], /missing required argument 'id'/],
      [['--api', 'ftp://x', 'region', 'list'], /--api: expected an http or https URL/],
    ];
    // A few at a time: each is a separate process.
    for (let i = 0; i < cases.length; i += 6) {
      await Promise.all(
        cases.slice(i, i + 6).map(async ([args, message]) => {
          const r = await cli(...args);
          expectCode(r, 2, args.join(' '));
          assert.match(r.stderr, message, args.join(' '));
        }),
      );
    }
    assert.equal((await regionsJson()).length, 3);
  });

  void it('explain: prints the decision, or says why it is not available', async () => {
    const r = await cli('explain', 'www.example.test', '--client', '198.51.100.7');
    if (r.code === 0) {
      assert.match(r.stdout, /^answer:/m);
      assert.match(r.stdout, /^ecs scope:/m);
    } else {
      // Until the DNS tier runs inside `meridian serve`, the API says so (404) and the CLI exits 1.
      expectCode(r, 1, 'explain');
      assert.match(r.stderr, /explain is not available/);
    }
  });

  void it('exits 1 with the API message for a bad or missing token', async () => {
    const bad = await runCli(['region', 'drain', 'eu-west'], {
      MERIDIAN_API_URL: server.apiUrl,
      MERIDIAN_API_TOKEN: 'wrong-token-123',
    });
    expectCode(bad, 1, 'bad token');
    assert.match(bad.stderr, /invalid or revoked API token \(HTTP 401 E_UNAUTHORIZED\)/);
    const flag = await runCli(['--token', 'also-wrong-1', 'region', 'remove', 'eu-west'], {
      MERIDIAN_API_URL: server.apiUrl,
    });
    expectCode(flag, 1, '--token wrong');
    assert.match(flag.stderr, /invalid or revoked API token/);
    const none = await runCli(['region', 'remove', 'eu-west'], { MERIDIAN_API_URL: server.apiUrl });
    expectCode(none, 1, 'no token');
    assert.match(none.stderr, /Authorization: Bearer/);
    assert.equal(byId(await regionsJson(), 'eu-west').state, 'active');
  });

  void it('exits 1 when the API cannot be reached', async () => {
    const port = await closedPort();
    const r = await runCli(['--api', `http://127.0.0.1:${port}`, 'region', 'list']);
    expectCode(r, 1, 'unreachable');
    assert.match(
      r.stderr,
      new RegExp(`cannot reach the admin API at http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`),
    );
  });

  void it('exits 1 on a conflict, with the API message', async () => {
    const r = await cli('region', 'add', 'eu-west', '--lat', '0', '--lon', '0', '--ipv4', '192.0.2.1');
    expectCode(r, 1, 'duplicate add');
    assert.match(r.stderr, /already exists \(HTTP 409 E_CONFLICT\)/);
  });

  void it('removes a region', async () => {
    const r = await cli('region', 'remove', 'ap-south');
    expectCode(r, 0, 'remove');
    assert.match(r.stdout, /region ap-south removed/);
    assert.deepEqual(
      (await regionsJson()).map((x) => x.id),
      ['eu-west', 'us-east'],
    );
  });

  void it('keeps regions and backends across a restart, and stops with exit 0 on SIGTERM', async () => {
    const exit = await server.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, server.stderr());
    server = await startMeridian(configPath, { MERIDIAN_API_TOKEN: TOKEN });
    env = { MERIDIAN_API_URL: server.apiUrl, MERIDIAN_API_TOKEN: TOKEN };
    const regions = await regionsJson();
    assert.deepEqual(
      regions.map((r) => [r.id, r.state]),
      [
        ['eu-west', 'active'],
        ['us-east', 'draining'],
      ],
    );
    const backends = JSON.parse((await cli('backend', 'list', 'eu-west', '--json')).stdout) as Backend[];
    assert.deepEqual(
      backends.map((b) => b.id),
      ['127-0-0-1-9001'],
    );
  });

  void it('help and version exit 0; the bin shim runs the same CLI', async () => {
    const help = await cli('region', 'add', '--help');
    expectCode(help, 0, 'help');
    assert.match(help.stdout, /--lat <degrees>\s+latitude in \[-90, 90\] \(required\)/);
    const v = await runCli(['--version'], {}, { bin: true });
    expectCode(v, 0, 'bin --version');
    assert.match(v.stdout, /^\d+\.\d+\.\d+/);
    const viaBin = await runCli(['region', 'list', '--json'], env, { bin: true });
    expectCode(viaBin, 0, 'bin region list');
    assert.equal((JSON.parse(viaBin.stdout) as unknown[]).length, 2);
  });
});

void describe('meridian serve with a bad configuration', () => {
  const dir = tempDir('meridian-badcfg-');
  after(() => rmSync(dir, { recursive: true, force: true }));

  void it('exits 2 naming the key path', async () => {
    const bad = writeTestConfig(dir, (doc) => {
      doc.dns.zones[0].soa.refresh = 'x';
    });
    const r = await runCli(['serve', '--config', bad]);
    expectCode(r, 2, 'serve with a bad config');
    assert.match(r.stderr, /dns\.zones\[0\]\.soa\.refresh: expected a positive integer, got "x"/);
  });

  void it('exits 2 for a missing file', async () => {
    const r = await runCli(['serve', '--config', `${dir}/missing.yaml`]);
    expectCode(r, 2, 'serve with a missing config');
    assert.match(r.stderr, /cannot read config file/);
  });
});
