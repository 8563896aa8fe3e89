// Runs Meridian's regional proxy for scripts/bench-proxy.sh: an in-memory store with one region
// and the given backends, the proxy on the given address. Prints "ready <port>" once listening;
// SIGTERM/SIGINT close it.
//
//   node --import tsx scripts/bench-proxy-server.ts --listen 127.0.0.1:18091 \
//     --backends http://127.0.0.1:18081,http://127.0.0.1:18082 [--health-path /] [--workers 2]
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { proxySchema } from '../src/config/proxy-schema.js';
import { createLogger } from '../src/log/logger.js';
import { startProxy } from '../src/proxy/index.js';
import { MemoryStateStore } from '../src/state/memory.js';

const { values } = parseArgs({
  options: {
    listen: { type: 'string', default: '127.0.0.1:18091' },
    backends: { type: 'string' },
    'health-path': { type: 'string', default: '/' },
    'log-level': { type: 'string', default: 'warn' },
    /** proxy.workers: 1 = in this process, 0 = one per core, > 1 = that many node:cluster workers. */
    workers: { type: 'string', default: '1' },
  },
});
const urls = (values.backends ?? '').split(',').filter((s) => s !== '');
if (urls.length === 0) throw new Error('--backends url[,url...] is required');

const logger = createLogger(values['log-level']);
const store = new MemoryStateStore({ logger });
await store.start();
await store.createRegion({ id: 'bench', lat: 50, lon: 8, ipv4: ['127.0.0.1'] });
for (const [i, url] of urls.entries())
  await store.createBackend('bench', { id: `b${i + 1}`, url, weight: 100 });

const proxy = await startProxy({
  config: proxySchema.parse({
    region: 'bench',
    listen: [values.listen],
    workers: Number(values.workers),
    health: { path: values['health-path'] },
  }),
  store,
  logger,
  registry: new Registry(),
  reporterId: `bench-${process.pid}`,
  resolvePath: (p) => p,
});
process.stdout.write(`ready ${proxy.addresses()[0]?.port ?? 0}\n`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void proxy
    .close({ graceMs: 1000 })
    .then(() => store.close())
    .finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
