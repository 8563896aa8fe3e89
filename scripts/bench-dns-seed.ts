// Writes the embedded store's state file with the three benchmark regions (bench-regions.ts), so
// the DNS benchmarks can run the built node itself (`node dist/cli/main.js serve`) on it, as an
// operator runs it, instead of a harness under tsx.
//   usage: node --import tsx scripts/bench-dns-seed.ts STATE_FILE
import { createLogger } from '../src/infra/logger.js';
import { MemoryStateStore } from '../src/storage/memory/state-store.js';
import { BENCH_REGIONS } from './bench-regions.js';

const file = process.argv[2];
if (file === undefined) {
  process.stderr.write('usage: bench-dns-seed.ts STATE_FILE\n');
  process.exit(2);
}
const store = new MemoryStateStore({ file, logger: createLogger('warn') });
await store.start();
for (const region of BENCH_REGIONS) await store.createRegion({ ...region, ipv6: [...region.ipv6] });
await store.close();
