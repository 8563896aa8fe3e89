// Prints hash and ring speed, balance and key movement. Not a test: numbers vary by machine.
//   npx tsx scripts/bench-ring.ts [--vnodes 2000] [--keys 100000] [--sweep]
import { performance } from 'node:perf_hooks';
import { hash64 } from '../src/core/hash.js';
import { DEFAULT_VNODES, HashRing } from '../src/core/ring.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN;
  return Number.isFinite(v) ? v : fallback;
}
const vnodes = arg('vnodes', DEFAULT_VNODES);
const keyCount = arg('keys', 100_000);
const sweep = process.argv.includes('--sweep');

const members = (n: number): { id: string; weight: number }[] =>
  Array.from({ length: n }, (_, i) => ({ id: `backend-${i}`, weight: 100 }));
const keys = Array.from({ length: keyCount }, (_, i) => `session-${i}`);

function opsPerSecond(fn: () => void, minMs = 500): number {
  let iterations = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < minMs) {
    fn();
    iterations++;
    elapsed = performance.now() - start;
  }
  return iterations / (elapsed / 1000);
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
let sink = 0;

// hash64 throughput over a rotating set of realistic keys.
const hashKeys = keys.slice(0, 1000);
{
  const perSecond =
    opsPerSecond(() => {
      for (const k of hashKeys) sink ^= hash64(k)[1];
    }) * hashKeys.length;
  console.log(`hash64: ${fmt(perSecond)} ops/s (keys like "session-123", 1000-key rotation)`);
}

for (const n of [3, 30, 300]) {
  const t0 = performance.now();
  const ring = HashRing.build(members(n), { vnodes });
  const buildMs = performance.now() - t0;
  const lookupIdRate =
    opsPerSecond(() => {
      for (const k of hashKeys) sink ^= ring.lookupId(k)?.length ?? 0;
    }) * hashKeys.length;
  const lookupRate =
    opsPerSecond(() => {
      for (const k of hashKeys) sink ^= ring.lookup(k)?.position ?? 0;
    }) * hashKeys.length;
  console.log(
    `N=${n}: ${ring.size} points, build ${buildMs.toFixed(1)} ms, lookupId ${fmt(lookupIdRate)}/s, lookup ${fmt(lookupRate)}/s`,
  );
}

function balance(n: number, v: number): { keyRatio: number; shareRatio: number } {
  const ring = HashRing.build(members(n), { vnodes: v });
  const counts = new Map<string, number>();
  for (const k of keys) {
    const id = ring.lookupId(k) as string;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  const keyRatio = Math.max(...counts.values()) / (keys.length / n);
  const shareRatio = Math.max(...ring.shares().values()) * n;
  return { keyRatio, shareRatio };
}

for (const v of sweep ? [160, 1000, 2000, 4000] : [vnodes]) {
  const parts = [3, 10, 50, 300].map((n) => {
    const b = balance(n, v);
    return `N=${n} ${b.keyRatio.toFixed(3)} (share ${b.shareRatio.toFixed(3)})`;
  });
  console.log(`balance busiest/average over ${fmt(keys.length)} keys, vnodes ${v}: ${parts.join(', ')}`);
}

for (const n of [3, 10, 50]) {
  const before = HashRing.build(members(n), { vnodes });
  const removed = `backend-${n - 1}`;
  const after = HashRing.build(
    members(n).filter((m) => m.id !== removed),
    { vnodes },
  );
  let moved = 0;
  let movedOther = 0;
  for (const k of keys) {
    const a = before.lookupId(k);
    const b = after.lookupId(k);
    if (a !== b) {
      moved++;
      if (a !== removed) movedOther++;
    }
  }
  console.log(
    `remove 1 of ${n}: ${((moved / keys.length) * 100).toFixed(2)} % of keys moved (ideal 1/N = ${(100 / n).toFixed(2)} %), ` +
      `${movedOther} moved that were not on the removed backend`,
  );
}
if (sink === 0.5) console.log(sink);
