// Starts Meridian's DNS tier alone for benchmarks and conformance runs: startDns on a config file
// (default config/bench-dns.yaml), an in-memory store with three regions (Frankfurt, Ashburn,
// Singapore), the test geo DB. Prints one JSON line {"pid", "port", "workerPids"} on stdout when
// ready; exits on SIGTERM/SIGINT.
//   usage: node --import tsx scripts/bench-dns-server.ts [config.yaml] [--workers N] [--port P]
import cluster from 'node:cluster';
import { Registry } from 'prom-client';
import { loadConfig } from '../src/config/load.js';
import { startDns } from '../src/dns/index.js';
import { createLogger } from '../src/infra/logger.js';
import { MemoryStateStore } from '../src/storage/memory/state-store.js';
import { BENCH_REGIONS } from './bench-regions.js';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const configPath =
  args.find((a, i) => !a.startsWith('--') && (i === 0 || !args[i - 1]!.startsWith('--'))) ??
  'config/bench-dns.yaml';
const env: NodeJS.ProcessEnv = { ...process.env };
const port = flag('--port');
if (port !== undefined) env.MERIDIAN_DNS_LISTEN = `127.0.0.1:${port},[::1]:${port}`;
const loaded = loadConfig(configPath, env);
const workersFlag = flag('--workers');
const dnsConfig =
  workersFlag === undefined ? loaded.config.dns : { ...loaded.config.dns, workers: Number(workersFlag) };

const logger = createLogger(loaded.config.log.level);
const store = new MemoryStateStore({ logger });
await store.start();
for (const region of BENCH_REGIONS) await store.createRegion({ ...region, ipv6: [...region.ipv6] });

const dns = await startDns({
  config: dnsConfig,
  resolvePath: loaded.resolvePath,
  store,
  logger,
  registry: new Registry(),
  startedAt: Date.now(),
});
const udp =
  dns.addresses().find((a) => a.transport === 'udp' && a.host === '127.0.0.1') ?? dns.addresses()[0];
const workerPids = Object.values(cluster.workers ?? {}).map((w) => w?.process.pid);
process.stdout.write(`${JSON.stringify({ pid: process.pid, port: udp?.port, workerPids })}\n`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  dns
    .close()
    .then(() => store.close())
    .then(() => process.exit(0))
    .catch(() => process.exit(1));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
