// Picks per second for every registered balancing algorithm at 3, 30 and 300 candidates.
// Run: node --import tsx scripts/bench-balancers.ts [--ms 300]
import { BALANCER_NAMES, createBalancer } from '../src/proxy/selection/registry.js';
import type { Candidate, PickContext } from '../src/proxy/selection/types.js';

const msArg = process.argv.indexOf('--ms');
const DURATION_MS = msArg > 0 ? Number(process.argv[msArg + 1]) : 300;
const SIZES = [3, 30, 300];

function candidates(n: number): Candidate[] {
  return Array.from({ length: n }, (_, i) => ({ id: `backend-${i}`, weight: 50 + (i % 4) * 50 }));
}

const inFlight = new Map<string, number>();
const keys = Array.from({ length: 4096 }, (_, i) => `session-${i}`);

function bench(name: (typeof BALANCER_NAMES)[number], n: number): number {
  const b = createBalancer(name);
  const set = candidates(n);
  for (const c of set) inFlight.set(c.id, Math.floor(Math.random() * 8));
  let i = 0;
  const ctx: PickContext & { key: string } = {
    key: keys[0] ?? '',
    inFlight: (id) => inFlight.get(id) ?? 0,
    random: Math.random,
  };
  // Warm up (builds rings and caches), then count picks in batches until the time is up.
  for (let w = 0; w < 2000; w++) b.pick(set, ctx);
  let picks = 0;
  const start = performance.now();
  let now = start;
  while (now - start < DURATION_MS) {
    for (let k = 0; k < 1000; k++) {
      ctx.key = keys[i++ & 4095] ?? '';
      const id = b.pick(set, ctx);
      if (id !== undefined) b.observe?.(id, 5, true);
    }
    picks += 1000;
    now = performance.now();
  }
  return picks / ((now - start) / 1000);
}

const rows: string[][] = [];
for (const name of BALANCER_NAMES)
  rows.push([name, ...SIZES.map((n) => Math.round(bench(name, n)).toLocaleString('en-US'))]);
const header = ['algorithm', ...SIZES.map((n) => `${n} candidates`)];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
const line = (cells: string[]): string =>
  cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
process.stdout.write(
  `picks/s (each pick also calls observe(); ${DURATION_MS} ms per cell, node ${process.version})\n`,
);
process.stdout.write(`${line(header)}\n`);
for (const r of rows) process.stdout.write(`${line(r)}\n`);
