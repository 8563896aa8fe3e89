// The DNS answer path alone, in one process, without sockets: Responder.handle over the queries of
// the "every query a different client /24" workload (scripts/gen-dns-ecs-queries.ts), with the
// bench server's zone and regions. Prints CPU nanoseconds per query per round, so a change to the
// path can be compared in alternated runs without dnsperf's or the kernel's share of the noise;
// run with --cpu-prof for a profile of nothing but the path.
//   usage: node --import tsx scripts/bench-dns-path.ts [--queries N] [--rounds R] [--config FILE]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { loadConfig } from '../src/config/load.js';
import { createRuntime } from '../src/dns/runtime.js';
import { createLogger } from '../src/infra/logger.js';
import { MemoryStateStore } from '../src/storage/memory/state-store.js';
import { BENCH_REGIONS } from './bench-regions.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const queries = Number(flag('--queries', '500000'));
const rounds = Number(flag('--rounds', '3'));
const loaded = loadConfig(flag('--config', 'config/bench-dns.yaml'), process.env);
const logger = createLogger('warn');

const store = new MemoryStateStore({ logger });
await store.start();
for (const region of BENCH_REGIONS) await store.createRegion({ ...region, ipv6: [...region.ipv6] });

const dir = mkdtempSync(join(tmpdir(), 'meridian-path-'));
execFileSync(
  process.execPath,
  ['--import', 'tsx', 'scripts/gen-dns-ecs-queries.ts', join(dir, 'q'), '--count', String(queries)],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
const file = readFileSync(join(dir, 'q.measure.bin'));
rmSync(dir, { recursive: true, force: true });
const messages: Buffer[] = [];
for (let p = 0; p < file.length;) {
  const length = file.readUInt16BE(p);
  messages.push(Buffer.from(file.subarray(p + 2, p + 2 + length)));
  p += 2 + length;
}

const runtime = await createRuntime({
  config: loaded.config.dns,
  geoPaths: (loaded.config.dns.geo?.databases ?? []).map((p) => loaded.resolvePath(p)),
  snapshot: () => store.current(),
  logger,
  registries: [],
  startedAt: Date.now() - 60_000,
  serving: true,
});
const resolver = Uint8Array.of(127, 0, 0, 1);
let answered = 0;
for (let round = 1; round <= rounds; round++) {
  const start = process.hrtime.bigint();
  for (const msg of messages) if (runtime.responder.handle(msg, resolver, 'udp') !== undefined) answered++;
  const ns = Number(process.hrtime.bigint() - start) / messages.length;
  const rss = process.memoryUsage().rss >> 20;
  console.log(
    `round ${round}: ${messages.length} distinct-/24 queries, ${ns.toFixed(0)} ns/query, RSS ${rss} MB`,
  );
}
console.log(`answered ${answered}`);
runtime.close();
await store.close();
