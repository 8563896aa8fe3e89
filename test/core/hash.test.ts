import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fmix64, fnv1a64, hash64, hash64Hex, toHex64 } from '../../src/core/hash.js';

const MASK = (1n << 64n) - 1n;
const join = ([hi, lo]: [number, number]): bigint => (BigInt(hi) << 32n) | BigInt(lo);

/** Reference FNV-1a 64 over UTF-8 bytes, in BigInt. */
function fnvRef(s: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(s, 'utf8')) h = ((h ^ BigInt(b)) * 0x100000001b3n) & MASK;
  return h;
}

/** Reference MurmurHash3 fmix64 in BigInt. */
function fmixRef(k: bigint): bigint {
  k ^= k >> 33n;
  k = (k * 0xff51afd7ed558ccdn) & MASK;
  k ^= k >> 33n;
  k = (k * 0xc4ceb9fe1a85ec53n) & MASK;
  k ^= k >> 33n;
  return k;
}

void test('fnv1a64 matches the published FNV-1a 64 vectors', () => {
  const vectors: [string, string][] = [
    ['', 'cbf29ce484222325'],
    ['a', 'af63dc4c8601ec8c'],
    ['b', 'af63df4c8601f1a5'],
    ['foobar', '85944171f73967e8'],
    ['chongo was here!\n', '46810940eff5f915'],
  ];
  for (const [input, hex] of vectors) assert.equal(toHex64(...fnv1a64(input)), hex, JSON.stringify(input));
});

void test('fnv1a64 hashes UTF-8 bytes, including astral characters and lone surrogates', () => {
  for (const s of ['é', '€uro', 'naïve-😀-key', '\ud800x', 'x\udfff', '日本語'.repeat(20)]) {
    assert.equal(join(fnv1a64(s)), fnvRef(s), JSON.stringify(s));
  }
});

void test('fnv1a64 agrees with a BigInt reference on random strings', () => {
  for (let i = 0; i < 2000; i++) {
    const len = Math.floor(Math.random() * 40);
    let s = '';
    for (let j = 0; j < len; j++)
      s += String.fromCharCode(Math.floor(Math.random() * (j % 3 === 0 ? 0x3000 : 0x80)));
    assert.equal(join(fnv1a64(s)), fnvRef(s), JSON.stringify(s));
  }
});

void test('fmix64 agrees with a BigInt reference on random and edge inputs', () => {
  const edges: [number, number][] = [
    [0, 0],
    [0, 1],
    [0xffffffff, 0xffffffff],
    [0x80000000, 0],
    [0, 0x80000000],
    [0x7fffffff, 0xffffffff],
  ];
  for (const [hi, lo] of edges) assert.equal(join(fmix64(hi, lo)), fmixRef((BigInt(hi) << 32n) | BigInt(lo)));
  for (let i = 0; i < 20000; i++) {
    const hi = Math.floor(Math.random() * 2 ** 32);
    const lo = Math.floor(Math.random() * 2 ** 32);
    assert.equal(join(fmix64(hi, lo)), fmixRef((BigInt(hi) << 32n) | BigInt(lo)), `${hi} ${lo}`);
  }
});

void test('hash64 = fmix64(fnv1a64) and hash64Hex is its 16-hex-digit form', () => {
  for (const s of ['', 'a', 'session-42', 'backend-7#999']) {
    const h = hash64(s);
    assert.deepEqual(h, fmix64(...fnv1a64(s)));
    assert.equal(join(h), fmixRef(fnvRef(s)));
    assert.match(hash64Hex(s), /^[0-9a-f]{16}$/);
    assert.equal(BigInt(`0x${hash64Hex(s)}`), join(h));
  }
  for (const [hi, lo] of [hash64('x'), fnv1a64('y')]) {
    assert.ok(Number.isInteger(hi) && hi >= 0 && hi < 2 ** 32);
    assert.ok(Number.isInteger(lo) && lo >= 0 && lo < 2 ** 32);
  }
});

void test('virtual-node labels id#1..#1000 hash to distinct values spread over the high bits', () => {
  for (const id of ['backend-1', '10.0.0.1:8080']) {
    const seen = new Set<string>();
    const topByte = new Set<number>();
    for (let i = 1; i <= 1000; i++) {
      const hex = hash64Hex(`${id}#${i}`);
      seen.add(hex);
      topByte.add(hash64(`${id}#${i}`)[0] >>> 24);
    }
    assert.equal(seen.size, 1000);
    // Raw FNV-1a leaves the high byte nearly constant across suffixes; the finalizer must not.
    assert.ok(topByte.size > 200, `only ${topByte.size} distinct top bytes`);
  }
});
