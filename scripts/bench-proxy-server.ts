// Runs Meridian's regional proxy for scripts/bench-proxy.sh: an in-memory store with one region
// and the given backends, the proxy on the given address. Prints "ready <port>" once listening;
// SIGTERM/SIGINT close it. With `--policies` the proxy enforces a realistic policy set that never
// triggers on the benchmark's requests (BENCH_POLICIES below: 10 WAF rules, a rate limit and a
// quota far above the load), so the run measures the cost of checking them.
//
//   node --import tsx scripts/bench-proxy-server.ts --listen 127.0.0.1:18091 \
//     --backends http://127.0.0.1:18081,http://127.0.0.1:18082 [--health-path /] [--workers 2] [--policies]
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { proxySchema } from '../src/config/proxy-schema.js';
import { createLogger } from '../src/infra/logger.js';
import { MemoryPolicyStore } from '../src/storage/memory/policy-store.js';
import { startProxy } from '../src/proxy/index.js';
import { MemoryStateStore } from '../src/storage/memory/state-store.js';

const { values } = parseArgs({
  options: {
    listen: { type: 'string', default: '127.0.0.1:18091' },
    backends: { type: 'string' },
    'health-path': { type: 'string', default: '/' },
    'log-level': { type: 'string', default: 'warn' },
    /** proxy.workers: 1 = in this process, 0 = one per core, > 1 = that many node:cluster workers. */
    workers: { type: 'string', default: '1' },
    policies: { type: 'boolean', default: false },
    /** proxy.http1Server: meridian (default) or node. */
    'http1-server': { type: 'string', default: 'meridian' },
  },
});

/** Typical edge rules (none matches the benchmark's `GET /` with an affinity cookie). */
const BENCH_POLICIES = [
  {
    id: 'edge-waf',
    type: 'waf',
    rules: [
      { id: 'no-trace', target: 'method', pattern: '^(TRACE|TRACK|CONNECT)$', action: 'block', priority: 10 },
      {
        id: 'no-dotfiles',
        target: 'path',
        pattern: '/\\.(git|env|svn|htaccess)',
        action: 'block',
        priority: 20,
      },
      {
        id: 'no-wp',
        target: 'path',
        pattern: '^/(wp-admin|wp-login\\.php|xmlrpc\\.php)',
        action: 'block',
        priority: 20,
      },
      { id: 'no-php', target: 'path', pattern: '\\.(php|asp|aspx|jsp|cgi)$', action: 'block', priority: 30 },
      { id: 'no-traversal', target: 'path', pattern: '\\.\\./', action: 'block', priority: 30 },
      {
        id: 'no-sqli',
        target: 'query',
        pattern: '(?i)(union\\s+select|or\\s+1=1|sleep\\()',
        action: 'block',
        priority: 40,
      },
      {
        id: 'no-xss',
        target: 'query',
        pattern: '(?i)(<script|javascript:|onerror=)',
        action: 'block',
        priority: 40,
      },
      {
        id: 'no-scanners',
        target: 'header:user-agent',
        pattern: '(?i)(sqlmap|nikto|nmap|masscan|zgrab)',
        action: 'block',
        priority: 50,
      },
      {
        id: 'bad-net',
        target: 'client_ip',
        pattern: '203.0.113.0/24,198.51.100.0/24',
        action: 'block',
        priority: 60,
      },
      { id: 'watch-api-keys', target: 'header:x-debug-token', pattern: '.+', action: 'log', priority: 70 },
    ],
  },
  { id: 'edge-rate', type: 'rate_limit', rate: 1_000_000, burst: 10_000_000, key: 'client_ip' },
  { id: 'edge-quota', type: 'quota', limit: 1_000_000_000, period: 'hour', key: 'client_ip' },
];
const urls = (values.backends ?? '').split(',').filter((s) => s !== '');
if (urls.length === 0) throw new Error('--backends url[,url...] is required');

const logger = createLogger(values['log-level']);
const store = new MemoryStateStore({ logger });
await store.start();
await store.createRegion({ id: 'bench', lat: 50, lon: 8, ipv4: ['127.0.0.1'] });
for (const [i, url] of urls.entries())
  await store.createBackend('bench', { id: `b${i + 1}`, url, weight: 100 });

let policies: MemoryPolicyStore | undefined;
if (values.policies) {
  policies = new MemoryPolicyStore({ logger });
  await policies.start();
  await policies.importBatch(BENCH_POLICIES);
}

const proxy = await startProxy({
  config: proxySchema.parse({
    region: 'bench',
    listen: [values.listen],
    workers: Number(values.workers),
    http1Server: values['http1-server'],
    health: { path: values['health-path'] },
  }),
  store,
  logger,
  registry: new Registry(),
  reporterId: `bench-${process.pid}`,
  resolvePath: (p) => p,
  ...(policies === undefined ? {} : { policies: { store: policies, keyPrefix: 'bench:' } }),
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
