// The DNS answer path alone, in one process, without sockets: Responder.handle over the queries of
// the "every query a different client /24" workload (scripts/gen-dns-ecs-queries.ts), with the
// bench server's zone and regions. Prints CPU nanoseconds per query per round, so a change to the
// path can be compared in alternated runs without dnsperf's or the kernel's share of the noise;
// run with --cpu-prof for a profile of nothing but the path. --dnssec signs the zones (fresh P-256
// keys) and sets DO on every query: the signed path, with the signature cache's hits and misses.
//   usage: node --import tsx scripts/bench-dns-path.ts [--queries N] [--rounds R] [--config FILE] [--dnssec]
// With dns.geo.prefill on in the config, rounds start once the geo record tables are filled, as on
// a node that has been up a second or two.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Registry } from 'prom-client';
import {
  DNSKEY_FLAGS_KSK,
  DNSKEY_FLAGS_ZSK,
  dnskeyRdata,
  generateKey,
  keyTag,
  privateKeyContext,
} from '../src/infra/dnssec/keys.js';
import { KeyRing } from '../src/infra/secrets/key-ring.js';
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

const dnssec = args.includes('--dnssec');
const ring = new KeyRing(new Map([['bench', randomBytes(32)]]), 'bench');
const signedKey = (zone: string, role: 'ksk' | 'zsk') => {
  const key = generateKey(13);
  const tag = keyTag(dnskeyRdata(role === 'ksk' ? DNSKEY_FLAGS_KSK : DNSKEY_FLAGS_ZSK, 13, key.publicKey));
  return {
    tag,
    role,
    algorithm: 13 as const,
    publicKey: key.publicKey.toString('base64'),
    privateKey: ring.seal(key.privateKeyPkcs8.toString('base64'), privateKeyContext(zone, role, tag)),
    publishAt: '2020-01-01T00:00:00Z',
    activeAt: '2020-01-01T00:00:00Z',
  };
};
const zones = loaded.config.dns.zones.map((z) =>
  dnssec
    ? {
        ...z,
        dnssec: {
          keys: [signedKey(z.name, 'ksk'), signedKey(z.name, 'zsk')],
          dnskeyTtl: 3600,
          signatureValidityDays: 14,
          refreshDays: 7,
          inceptionOffsetSeconds: 3600,
          propagationSeconds: 300,
        },
      }
    : z,
);
if (dnssec) {
  // DO: the OPT record follows the question (QNAME, QTYPE, QCLASS): root name, TYPE, CLASS (UDP
  // size), then extended RCODE, version and the flags, whose high bit is DO.
  for (const msg of messages) {
    let p = 12;
    while (msg[p] !== 0) p += 1 + msg[p]!;
    msg[p + 12]! |= 0x80;
  }
}
const registry = new Registry();

const runtime = await createRuntime({
  config: loaded.config.dns,
  zones,
  openSealed: (sealed, context) => ring.open(sealed, context),
  geoPaths: (loaded.config.dns.geo?.databases ?? []).map((p) => loaded.resolvePath(p)),
  snapshot: () => store.current(),
  logger,
  // Metrics only for the signing counters: the unsigned path is measured as before, without them.
  registries: dnssec ? [registry] : [],
  startedAt: Date.now() - 60_000,
  serving: true,
});
await runtime.locator?.prefilled();
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
if (dnssec)
  for (const line of (await registry.metrics()).split('\n'))
    if (line.startsWith('meridian_dns_dnssec_')) console.log(line);
await runtime.close();
await store.close();
